namespace Portcullis.Contracts;

/// <summary>The gateway authenticated a request and is about to have it decided.</summary>
public sealed record RequestReceived(
    Guid RequestId,
    string SessionId,
    Principal Principal,
    AgentAction Action,
    DateTimeOffset ReceivedAt) : IRequestMessage;
