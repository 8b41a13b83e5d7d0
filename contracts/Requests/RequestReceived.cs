namespace Portcullis.Contracts;

/// <summary>
/// The gateway authenticated a request and is about to have it decided. <see cref="SessionSequence"/> numbers
/// the session's requests 1, 2, 3... in the order the gateway accepted them, so the audit can tell a missing
/// request from a session that simply had fewer (0: not numbered, from a gateway that predates it).
/// </summary>
/// <remarks>
/// An event that serves as the policy's request: the gateway's request client publishes it, rather than sending
/// an <c>EvaluateRequest</c> command, because the fact that a request arrived is itself part of the record. One
/// message, confirmed by the broker before anything runs, is both what the audit records (every request, in order,
/// whatever the policy answers or whether it answers at all) and what the policy decides, answering with
/// <see cref="PolicyEvaluated"/>. A command would need a second message for the audit, and a window between the
/// two in which a request could be decided but never recorded.
/// </remarks>
public sealed record RequestReceived(
    Guid RequestId,
    string SessionId,
    Principal Principal,
    AgentAction Action,
    DateTimeOffset ReceivedAt,
    long SessionSequence = 0) : IRequestMessage;
