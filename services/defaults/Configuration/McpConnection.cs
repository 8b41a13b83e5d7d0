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

    /// <summary>
    /// The separator between a connection's name and its upstream resource's URI in the gateway's resource list:
    /// <c>everything+demo://resource/static/1</c> (a URI whose scheme names the connection).
    /// </summary>
    public const char ResourceSeparator = '+';

    /// <summary>An upstream resource's URI as the gateway lists it.</summary>
    public static string ListedUri(string connection, string uri) => $"{connection}{ResourceSeparator}{uri}";

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
        if (name.Contains(ToolSeparator) || name.Contains(ResourceSeparator))
            yield return $"connections.{name}: an mcp connection's name may not contain '{ToolSeparator}' or '{ResourceSeparator}' (it prefixes its tools and resources)";
    }
}
