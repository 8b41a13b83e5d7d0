namespace Portcullis.Contracts;

/// <summary>
/// The gateway took session sequence number <see cref="SessionSequence"/> for request <see cref="RequestId"/> and then
/// refused the request before its <see cref="RequestReceived"/> was confirmed by the broker (the broker was down, or
/// did not confirm within the deadline): nothing ran. The number is accounted for, not lost. Written to the gateway's
/// outbox (<c>gateway.voided_sequences</c>) at the refusal and published once the broker takes it, so
/// <see cref="VoidedAt"/> is the refusal's time, not the publish's. The <see cref="RequestReceived"/> may have reached
/// the broker unconfirmed and be recorded as well: both then name the same request.
/// </summary>
public sealed record RequestSequenceVoided(
    Guid RequestId,
    string SessionId,
    long SessionSequence,
    string Reason,
    DateTimeOffset VoidedAt) : IRequestMessage;
