namespace Portcullis.Contracts;

/// <summary>
/// The audit could not store an event and set it aside (whole, in its error queue) instead of stopping: which
/// message, of what type, why, and the SHA-256 of the message's body as delivered, so the set-aside copy can be
/// matched to this record. Never the body itself. Recorded in the event's own session when that can be read,
/// else in <see cref="UnknownSession"/>. Strings taken from the message are in the store's escaped form.
/// </summary>
public sealed record EventQuarantined(
    Guid RequestId,
    string SessionId,
    string? MessageId,
    string EventType,
    string Reason,
    string BodySha256,
    DateTimeOffset QuarantinedAt) : IRequestMessage
{
    public const string UnknownSession = "audit:quarantine";
}
