namespace Portcullis.Defaults.Configuration;

/// <summary>
/// The one file, <c>portcullis.yaml</c>, that describes connections, policy rules and masking rules. Every service
/// reads the connections; each section beyond them belongs to one service, which reads it into its own model
/// (<see cref="ConfigSection.Read{T}"/>), so this shared base knows no service's domain. Names in the file are snake_case.
/// </summary>
public sealed class PortcullisConfig
{
    public Dictionary<string, ConnectionConfig> Connections { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The policy service's rules (its model: Portcullis.Policy.Rules.PolicyConfig).</summary>
    public ConfigSection Policy { get; set; } = new();

    /// <summary>
    /// The masking service's rules (its model: Portcullis.Masking.Rules.MaskingConfig); the gateway and the policy
    /// read the columns they mask by origin (<see cref="MaskedColumnRules"/>).
    /// </summary>
    public ConfigSection Masking { get; set; } = new();
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

    /// <summary>
    /// mcp: the postgres connection on the same database as this MCP server's SQL tool (such as server-postgres), whose
    /// catalogue the gateway reads to refuse a SQL argument that reads a view over a masked column. Without it, such an
    /// argument that names any relation is refused on a connection with masked columns (nothing can vet it).
    /// </summary>
    public string? Catalogue { get; set; }

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

public sealed class ObligationsConfig
{
    public int? MaxRows { get; set; }
    public bool? ReadOnly { get; set; }

    /// <summary>A duration such as "5s", "500ms", "2m".</summary>
    public string? StatementTimeout { get; set; }

    public long? MaxOutputBytes { get; set; }
}
