namespace Portcullis.Defaults.Configuration;

/// <summary>
/// The one file, <c>portcullis.yaml</c>, that describes connections, policy rules and masking rules.
/// Each service reads its own part. Names in the file are snake_case.
/// </summary>
public sealed class PortcullisConfig
{
    public Dictionary<string, ConnectionConfig> Connections { get; set; } = new(StringComparer.Ordinal);
    public PolicyConfig Policy { get; set; } = new();
    public MaskingConfig Masking { get; set; } = new();
}

/// <summary>
/// A system agents reach through the gateway. Credentials are references ("secret:NAME") resolved by the
/// gateway; the agent never sees them.
/// </summary>
public sealed class ConnectionConfig
{
    /// <summary>http, postgres, ssh or mcp.</summary>
    public string Kind { get; set; } = "http";

    /// <summary>What the connection is for, in words an agent reads (MCP tool listings).</summary>
    public string? Description { get; set; }

    /// <summary>Groups that see this connection among an MCP client's tools; empty: every authenticated caller.</summary>
    public List<string> VisibleTo { get; set; } = [];

    /// <summary>http: base URL the connection's requests go to; the agent never sees or chooses it.</summary>
    public string? Upstream { get; set; }

    /// <summary>http: headers added to every upstream request, e.g. X-Api-Key: secret:CRM_API_KEY.</summary>
    public Dictionary<string, string> Headers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>mcp: the upstream MCP server (<see cref="McpConnection"/>): url (Streamable HTTP), or command, args and env (stdio).</summary>
    public string? Url { get; set; }
    public string? Command { get; set; }
    public List<string> Args { get; set; } = [];
    public Dictionary<string, string> Env { get; set; } = new(StringComparer.Ordinal);

    /// <summary>postgres: an Npgsql connection string without the password.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>postgres: the password (a secret reference); ssh: unused.</summary>
    public string? Password { get; set; }

    /// <summary>ssh: the target host, port and user.</summary>
    public string? Host { get; set; }
    public int Port { get; set; } = 22;
    public string? Username { get; set; }

    /// <summary>ssh: the gateway's private key (a secret reference to an OpenSSH or PEM key).</summary>
    public string? PrivateKey { get; set; }

    /// <summary>ssh: the host key's SHA-256 fingerprint ("SHA256:...", or a secret reference to it), pinned: any other host key is refused.</summary>
    public string? HostKeySha256 { get; set; }

    /// <summary>postgres, ssh and mcp: how long one action may run before it is cancelled ("30s").</summary>
    public string? Timeout { get; set; }

    /// <summary>The host this connection reaches, whatever its kind; null when it names none.</summary>
    public string? TargetHost() => Kind switch
    {
        "http" => Uri.TryCreate(Upstream, UriKind.Absolute, out var upstream) ? upstream.Host : null,
        "ssh" => Host,
        "mcp" => Uri.TryCreate(Url, UriKind.Absolute, out var server) ? server.Host : null,
        "postgres" => ConnectionString?.Split(';').Select(part => part.Split('=', 2))
            .FirstOrDefault(pair => pair.Length == 2 && pair[0].Trim().Equals("Host", StringComparison.OrdinalIgnoreCase))?[1].Trim(),
        _ => null,
    };

    /// <summary>Effect when no rule matches: allow (block-list) or deny (allow-list). Unset: the policy's default.</summary>
    public string? DefaultEffect { get; set; }

    /// <summary>Obligations every allowed action on this connection carries (rules can only tighten them).</summary>
    public ObligationsConfig? Obligations { get; set; }
}

public sealed class PolicyConfig
{
    /// <summary>Effect when no rule matches and the connection sets none. Deny unless said otherwise.</summary>
    public string DefaultEffect { get; set; } = "deny";

    public List<PolicyRuleConfig> Rules { get; set; } = [];
}

public sealed class PolicyRuleConfig
{
    public string Id { get; set; } = "";
    public string? Description { get; set; }

    /// <summary>allow, deny or require_approval.</summary>
    public string Effect { get; set; } = "";

    /// <summary>What the agent is told when this rule decides.</summary>
    public string? Reason { get; set; }

    /// <summary>With require_approval: the groups whose members may approve.</summary>
    public List<string> Approvers { get; set; } = [];

    public RuleMatchConfig Match { get; set; } = new();

    /// <summary>Conditions the gateway enforces when this rule matches an action that runs.</summary>
    public ObligationsConfig? Obligations { get; set; }
}

public sealed class ObligationsConfig
{
    public int? MaxRows { get; set; }
    public bool? ReadOnly { get; set; }

    /// <summary>A duration such as "5s", "500ms", "2m".</summary>
    public string? StatementTimeout { get; set; }

    public long? MaxOutputBytes { get; set; }
}

/// <summary>
/// Every listed condition must hold; an empty list matches anything. Lists over what an action contains
/// (tables, kinds, functions, columns, programs) match, for deny and require_approval rules, when any one
/// element matches; for allow rules, only when every element does, so an allow-list cannot be ridden by one
/// allowed program or table beside a forbidden one.
/// </summary>
public sealed class RuleMatchConfig
{
    public List<string> Connections { get; set; } = [];
    public List<string> Protocols { get; set; } = [];

    /// <summary>The principal is in at least one of these groups.</summary>
    public List<string> Groups { get; set; } = [];

    /// <summary>The principal's subject is one of these.</summary>
    public List<string> Subjects { get; set; } = [];

    /// <summary>HTTP methods, case-insensitive.</summary>
    public List<string> Methods { get; set; } = [];

    /// <summary>Path globs: '*' within one segment, '**' across segments; case-insensitive.</summary>
    public List<string> Paths { get; set; } = [];

    /// <summary>The host the connection reaches (http upstream, ssh host, postgres host), as globs: "*.prod.internal".</summary>
    public List<string> Hosts { get; set; } = [];

    /// <summary>Query parameters: "name" (present) or "name=glob" (with a matching value).</summary>
    public List<string> Query { get; set; } = [];

    /// <summary>Conditions on the parsed SQL; a rule with them matches SQL actions only.</summary>
    public SqlMatchConfig? Sql { get; set; }

    /// <summary>Conditions on a proxied MCP tool call (<see cref="McpMatchConfig"/>); a rule with them matches MCP actions only.</summary>
    public McpMatchConfig? Mcp { get; set; }

    /// <summary>Conditions on the analysed command line; a rule with them matches commands only.</summary>
    public ExecMatchConfig? Exec { get; set; }
}

/// <summary>Every listed condition must hold; each list matches when any of its entries does.</summary>
public sealed class SqlMatchConfig
{
    /// <summary>select, insert, update, delete, merge, copy, copy_to_program, ddl, drop, truncate, privilege, file_access, remote_access, ...</summary>
    public List<string> Kinds { get; set; } = [];

    /// <summary>Tables read or written: "name" in any schema, "schema.name", globs allowed ("pii.*").</summary>
    public List<string> Tables { get; set; } = [];
    public List<string> Reads { get; set; } = [];
    public List<string> Writes { get; set; } = [];
    public List<string> Functions { get; set; } = [];
    public List<string> Columns { get; set; } = [];
}

public sealed class ExecMatchConfig
{
    /// <summary>Programs by base name ("curl") or by path glob ("/usr/bin/*").</summary>
    public List<string> Programs { get; set; } = [];

    /// <summary>With programs: one of those programs is given one of these flags; alone: any program is.</summary>
    public List<string> Flags { get; set; } = [];

    /// <summary>Globs over the arguments of the matching programs (any program when none is listed): "/etc/shadow", "*/.ssh/*".</summary>
    public List<string> Arguments { get; set; } = [];

    public bool? Network { get; set; }
    public bool? PipesIntoInterpreter { get; set; }
    public bool? InlineCode { get; set; }

    /// <summary>A program runs another through a flag or its own commands (sort --compress-program, tar --to-command, a pager's !, awk's system()).</summary>
    public bool? RunsProgram { get; set; }

    /// <summary>Output redirections and programs or flags that write files (tee, cp, sed -i, sort -o, find -fprint).</summary>
    public bool? WritesFiles { get; set; }

    /// <summary>An assignment to a variable that changes what runs or is loaded (LD_*, PATH, BASH_ENV, IFS, PAGER, GIT_*, ...).</summary>
    public bool? EnvOverride { get; set; }

    /// <summary>
    /// Files named by any command (operands, option values, redirection targets), normalised, as path globs: "/etc/shadow",
    /// "~/.ssh/**", "**/*.pem". A glob or brace argument counts when any path it can stand for matches.
    /// </summary>
    public List<string> Paths { get; set; } = [];
}

/// <summary>How outputs are masked: which detectors run, what each entity becomes, and rules by column or JSON path.</summary>
public sealed class MaskingConfig
{
    /// <summary>Detector names (email, card, aws_access_key, ...), or "all".</summary>
    public List<string> Detectors { get; set; } = ["all"];

    /// <summary>redact ([EMAIL]), partial (keep the last characters), hash (keyed HMAC) or null.</summary>
    public string DefaultStrategy { get; set; } = "redact";

    /// <summary>A strategy per entity, e.g. EMAIL: hash, CARD: partial.</summary>
    public Dictionary<string, string> Strategies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How many characters partial keeps.</summary>
    public int Keep { get; set; } = 4;

    /// <summary>The HMAC key for the hash strategy (a secret reference); required when any strategy is hash.</summary>
    public string? HashKey { get; set; }

    public List<MaskingRuleConfig> Rules { get; set; } = [];

    /// <summary>Per connection: the detectors that run on its outputs, instead of <see cref="Detectors"/>.</summary>
    public Dictionary<string, ConnectionMaskingConfig> ByConnection { get; set; } = new(StringComparer.Ordinal);
}

public sealed class ConnectionMaskingConfig
{
    public List<string> Detectors { get; set; } = [];
}

/// <summary>Masks whole values by where they stand, whatever they hold: SQL result columns by origin, JSON by path.</summary>
public sealed class MaskingRuleConfig
{
    public string Id { get; set; } = "";

    /// <summary>Connections the rule applies to; empty: all.</summary>
    public List<string> Connections { get; set; } = [];

    /// <summary>SQL result columns by origin, "schema.table.column", with '*' wildcards ("demo.*.email").</summary>
    public List<string> Columns { get; set; } = [];

    /// <summary>JSON paths: $.a.b, $.items[*].card, $..email (any depth), $.a.*.</summary>
    public List<string> JsonPaths { get; set; } = [];

    /// <summary>HTTP response headers by name, '*' wildcards, case-insensitive ("Set-Cookie", "X-Debug-*").</summary>
    public List<string> Headers { get; set; } = [];

    public string Strategy { get; set; } = "redact";
    public int? Keep { get; set; }

    /// <summary>The tag of masked values and the entity they are counted under; default MASKED.</summary>
    public string Entity { get; set; } = "MASKED";
}
