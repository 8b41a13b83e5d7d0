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

public sealed class ConnectionConfig
{
    /// <summary>http (later: postgres, ssh).</summary>
    public string Kind { get; set; } = "http";

    /// <summary>Base URL the connection's requests go to; the agent never sees or chooses it.</summary>
    public string? Upstream { get; set; }

    /// <summary>Effect when no rule matches: allow (block-list) or deny (allow-list). Unset: the policy's default.</summary>
    public string? DefaultEffect { get; set; }

    public string? Description { get; set; }
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
}

/// <summary>Every listed condition must hold; an empty list matches anything.</summary>
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
}

public sealed class MaskingConfig
{
    /// <summary>Detectors applied to every output unless a connection says otherwise.</summary>
    public List<string> Detectors { get; set; } = ["email"];
}
