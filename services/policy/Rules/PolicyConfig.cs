using Portcullis.Defaults.Configuration;

namespace Portcullis.Policy.Rules;

/// <summary>The policy section of portcullis.yaml, and of every version an admin publishes.</summary>
public sealed class PolicyConfig
{
    /// <summary>Effect when no rule matches and the connection sets none. Deny unless said otherwise.</summary>
    public string DefaultEffect { get; set; } = "deny";

    public List<PolicyRuleConfig> Rules { get; set; } = [];

    /// <summary>The version's own test cases (Rules/PolicyTests.cs): a version whose cases fail is not published.</summary>
    public List<PolicyTestConfig> Tests { get; set; } = [];

    /// <summary>Just the policy section (default_effect, rules), as the admin API receives it.</summary>
    public static PolicyConfig Parse(string yaml) => PortcullisConfigLoader.ParseSection<PolicyConfig>(yaml, "policy");

    /// <summary>The section as YAML, in one canonical form (used to store and compare versions).</summary>
    public string ToYaml() => PortcullisConfigLoader.Serialize(this);
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

    /// <summary>With a budget the rule applies only once its matching actions have used it up (Budgets/).</summary>
    public Budgets.BudgetConfig? Budget { get; set; }
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
