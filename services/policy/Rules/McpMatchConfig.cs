namespace Portcullis.Policy.Rules;

/// <summary>
/// Conditions on a proxied MCP action: a tool call, a resource read or a prompt get. Every listed condition must hold.
/// <c>tools</c> are globs over the upstream tool's name (<c>read_*</c>) or the name the gateway lists (<c>files.read_*</c>);
/// <c>resources</c> are path globs over the upstream resource's URI (<c>file:///srv/**</c>, judged with its dot
/// segments resolved); <c>prompts</c> globs over the upstream prompt's name or the listed one. A rule that names tools,
/// resources or prompts matches those kinds of action only; one that names none matches every MCP action.
/// </summary>
public sealed class McpMatchConfig
{
    public List<string> Tools { get; set; } = [];

    public List<string> Resources { get; set; } = [];

    public List<string> Prompts { get; set; } = [];

    /// <summary>Conditions on the call's (or the prompt's) arguments; all must hold.</summary>
    public List<McpArgumentConditionConfig> Arguments { get; set; } = [];

    /// <summary>An argument holding SQL: the rule's <c>sql:</c> conditions are judged on it by PostgreSQL's parser.</summary>
    public string? SqlArgument { get; set; }

    /// <summary>An argument holding a command line: the rule's <c>exec:</c> conditions are judged on its shell analysis.</summary>
    public string? CommandArgument { get; set; }
}

/// <summary>
/// One condition on an argument: the values at <c>path</c> (a JSON path: <c>$.path</c>, <c>$.edits[*].path</c>,
/// <c>$..path</c>) compared by <c>equals</c>, <c>glob</c> (a path glob: '*' in one segment, '**' across; values that
/// are paths are judged with their dot segments resolved) or <c>regex</c>. With <c>not: true</c> the condition holds
/// when no value matches (a missing argument included).
/// </summary>
public sealed class McpArgumentConditionConfig
{
    public string Path { get; set; } = "";
    [YamlDotNet.Serialization.YamlMember(Alias = "equals")]
    public string? EqualTo { get; set; }
    public string? Glob { get; set; }
    public string? Regex { get; set; }
    public bool Not { get; set; }
}
