namespace Portcullis.Contracts;

/// <summary>
/// The gateway saw an upstream MCP tool for the first time and pinned its definition: <see cref="Hash"/> is the SHA-256
/// of its name, description and input schema. Recorded in the connection's stream (<c>gateway:mcp-tools:{connection}</c>).
/// </summary>
public sealed record McpToolDefinitionPinned(
    Guid RequestId,
    string SessionId,
    string Connection,
    string Tool,
    string Hash,
    string? Description,
    DateTimeOffset PinnedAt) : IRequestMessage;
