namespace Portcullis.Contracts;

/// <summary>
/// The audit service's heartbeat, published about once a second by every audit instance: whether it is
/// recording (it holds the audit queue's consumer and its store answers), how far behind the record is, and
/// how many events wait in the queue. Gateways refuse agent actions while no instance reports keeping up, so
/// a stopped, paused or overwhelmed audit is seen even when its connection to the broker stays open.
/// Published as plain JSON on the fanout exchange <see cref="Exchange"/>, not as a saga event: it is never
/// recorded.
/// </summary>
/// <param name="Node">The reporting audit instance (host and process id).</param>
/// <param name="Recording">Whether this instance consumes the audit queue and can store what it reads.</param>
/// <param name="NotRecordingReason">Why not, when <paramref name="Recording"/> is false.</param>
/// <param name="LagSeconds">How long the oldest event not yet stored has waited (0 when nothing waits).</param>
/// <param name="Backlog">Events ready in the audit queue, not yet delivered to the consumer (-1: unknown).</param>
/// <param name="NewestStoredEventAt">When the newest stored event happened, by its own time stamp.</param>
public sealed record AuditProgress(
    string Node,
    DateTimeOffset ReportedAt,
    bool Recording,
    string? NotRecordingReason,
    double LagSeconds,
    long Backlog,
    DateTimeOffset? NewestStoredEventAt)
{
    public const string Exchange = "Portcullis.Contracts:AuditProgress";
}
