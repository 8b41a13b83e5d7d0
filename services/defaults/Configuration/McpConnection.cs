namespace Portcullis.Defaults.Configuration;

/// <summary>
/// What a connection of kind <c>mcp</c> says about its upstream MCP server: either <c>url</c> (Streamable HTTP, with
/// <c>headers</c> whose values may be <c>secret:NAME</c>) or <c>command</c> with <c>args</c> and <c>env</c> (a local
/// server the gateway starts over stdio; <c>env</c> values may be <c>secret:NAME</c>).
/// </summary>
public static class McpConnection
{
    public const string Kind = "mcp";

    /// <summary>The separator between a connection's name and its upstream tool's name in the gateway's tool list.</summary>
    public const char ToolSeparator = '.';

    public static bool IsStdio(ConnectionConfig connection) => connection.Command is { Length: > 0 };

    /// <summary>What is wrong with <paramref name="connection"/> as an MCP connection, or nothing.</summary>
    public static IEnumerable<string> Problems(string name, ConnectionConfig connection)
    {
        if (connection.Kind != Kind) yield break;
        var hasUrl = connection.Url is { Length: > 0 };
        if (hasUrl == IsStdio(connection))
            yield return $"connections.{name}: an mcp connection needs either url (Streamable HTTP) or command (stdio), not both";
        if (hasUrl && !(Uri.TryCreate(connection.Url, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"))
            yield return $"connections.{name}.url '{connection.Url}' is not an http(s) URL";
        if (name.Contains(ToolSeparator))
            yield return $"connections.{name}: an mcp connection's name may not contain '{ToolSeparator}' (it prefixes its tools)";
    }
}

/// <summary>
/// Conditions on a proxied MCP tool call. Every listed condition must hold. <c>tools</c> are globs over the upstream
/// tool's name (<c>read_*</c>) or the name the gateway lists (<c>files.read_*</c>).
/// </summary>
public sealed class McpMatchConfig
{
    public List<string> Tools { get; set; } = [];

    /// <summary>Conditions on the call's arguments; all must hold.</summary>
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
