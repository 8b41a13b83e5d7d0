namespace Portcullis.Contracts;

/// <summary>
/// The gateway authenticated a request and is about to have it decided. <see cref="SessionSequence"/> numbers
/// the session's requests 1, 2, 3... in the order the gateway accepted them, so the audit can tell a missing
/// request from a session that simply had fewer (0: not numbered, from a gateway that predates it).
/// </summary>
public sealed record RequestReceived(
    Guid RequestId,
    string SessionId,
    Principal Principal,
    AgentAction Action,
    DateTimeOffset ReceivedAt,
    long SessionSequence = 0) : IRequestMessage;
