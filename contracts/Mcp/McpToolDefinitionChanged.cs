namespace Portcullis.Contracts;

/// <summary>
/// An upstream MCP tool is offered with a definition other than the pinned one (a "rug pull" until shown otherwise):
/// the gateway withholds it until an admin accepts <see cref="OfferedHash"/> (<see cref="McpToolDefinitionAccepted"/>).
/// </summary>
public sealed record McpToolDefinitionChanged(
    Guid RequestId,
    string SessionId,
    string Connection,
    string Tool,
    string PinnedHash,
    string OfferedHash,
    string? OfferedDescription,
    DateTimeOffset SeenAt) : IRequestMessage;
