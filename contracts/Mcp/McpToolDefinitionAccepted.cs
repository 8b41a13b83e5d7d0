namespace Portcullis.Contracts;

/// <summary>
/// An admin accepted a changed MCP tool definition through the policy API: <see cref="Hash"/> becomes the pinned one
/// and the tool is offered again. Recorded in the connection's stream beside the change it answers.
/// </summary>
public sealed record McpToolDefinitionAccepted(
    Guid RequestId,
    string SessionId,
    string Connection,
    string Tool,
    string Hash,
    string AcceptedBy,
    string? Comment,
    DateTimeOffset AcceptedAt) : IRequestMessage
{
    /// <summary>The audit stream of a connection's tool definitions.</summary>
    public static string StreamOf(string connection) => $"gateway:mcp-tools:{connection}";
}
