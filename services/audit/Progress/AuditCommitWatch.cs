using System.Collections.Concurrent;
using System.Reflection;
using Marten;
using Marten.Services;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.Audit.Progress;

/// <summary>
/// Watches the audit store's commits (a Marten session listener, so the ingest itself is untouched): when the
/// newest batch was stored and how old its oldest event was then. With the queue's backlog this gives how far
/// behind the record is (<see cref="Lag"/>).
/// </summary>
public sealed class AuditCommitWatch(TimeProvider clock) : DocumentSessionListenerBase
{
    private static readonly ConcurrentDictionary<Type, PropertyInfo?> TimeOf = new();
    private readonly Lock _gate = new();
    private DateTimeOffset? _lastCommitAt;
    private DateTimeOffset? _newestStoredEventAt;
    private TimeSpan _lastBatchDelay;
    private DateTimeOffset? _backlogSince;

    public DateTimeOffset? NewestStoredEventAt { get { lock (_gate) return _newestStoredEventAt; } }

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
    {
        DateTimeOffset? oldest = null, newest = null;
        var storedAt = clock.GetUtcNow();
        foreach (var stored in commit.GetEvents())
        {
            if (OccurredAt(stored.Data) is not { } at) continue;
            PortcullisMetrics.AuditIngestLag.Record(Math.Max(0, (storedAt - at).TotalMilliseconds));
            if (oldest is null || at < oldest) oldest = at;
            if (newest is null || at > newest) newest = at;
        }
        if (oldest is null) return Task.CompletedTask;
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            _lastCommitAt = now;
            _lastBatchDelay = now - oldest.Value;
            if (_newestStoredEventAt is null || newest > _newestStoredEventAt) _newestStoredEventAt = newest;
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// How long the oldest unstored event has waited, near enough. Nothing waits in the queue: none (what the
    /// consumer holds is stored within a batch, or the store does not answer and readiness says so). Events
    /// wait: the delay of the last batch while batches keep coming, and at least the time since the record
    /// last moved, or since they were first seen waiting (a burst after a quiet hour is not an hour behind).
    /// </summary>
    public TimeSpan Lag(long backlog)
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            if (backlog <= 0)
            {
                _backlogSince = null;
                return TimeSpan.Zero;
            }
            _backlogSince ??= now;
            var recent = _lastCommitAt is { } last && now - last < TimeSpan.FromSeconds(2) ? _lastBatchDelay : TimeSpan.Zero;
            var movedAt = _lastCommitAt is { } commit && commit > _backlogSince ? commit : _backlogSince.Value;
            return recent > now - movedAt ? recent : now - movedAt;
        }
    }

    /// <summary>An event's own time stamp: the first DateTimeOffset its record declares (ReceivedAt, EvaluatedAt, ...).</summary>
    public static DateTimeOffset? OccurredAt(object? data) =>
        data is null ? null
            : TimeOf.GetOrAdd(data.GetType(), type => type.GetProperties().FirstOrDefault(p => p.PropertyType == typeof(DateTimeOffset)))
                ?.GetValue(data) as DateTimeOffset?;
}
