using System.Security.Cryptography;
using Marten;
using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Audit.Projections;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;
using Portcullis.Defaults.Hosting;

namespace Portcullis.Audit.Retention;

/// <summary>Retention settings (section "Audit").</summary>
public sealed class RetentionOptions
{
    /// <summary>Sessions whose last event is older than this are archived and removed; unset: kept for ever.</summary>
    public TimeSpan? Retention { get; set; }

    /// <summary>Where archives are written, one JSON Lines file per session under a folder per day.</summary>
    public string ArchiveFolder { get; set; } = "archive";

    public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>
/// Archives whole sessions: every event, in order, with its hash, into a JSON Lines file (written and flushed
/// before anything is removed), then removes the stream and its timeline in one transaction and records
/// <see cref="SessionArchived"/> in the retention session. The exactly-once keys stay, so a late redelivery
/// of an archived session's message is still recognised.
/// </summary>
public sealed class SessionArchiver(IDocumentStore store, IOptions<RetentionOptions> options, TimeProvider clock,
    ILogger<SessionArchiver> logger)
{
    /// <summary>Archives the sessions last active before <paramref name="before"/> (only <paramref name="only"/> when given); returns how many.</summary>
    /// <param name="progress">Told after each session: how many are done of how many, and their events.</param>
    public async Task<int> ArchiveAsync(DateTimeOffset before, string? only, string reason, CancellationToken cancellationToken,
        IProgress<ArchiveProgress>? progress = null)
    {
        await using var query = store.QuerySession();
        var sessions = query.Query<SessionTimeline>()
            .Where(t => t.LastAt < before && t.Id != SessionArchived.RetentionSession);
        if (only is not null) sessions = sessions.Where(t => t.Id == only);
        var candidates = await sessions
            .OrderBy(t => t.LastAt)
            .Select(t => t.Id)
            .Take(1000)
            .ToListAsync(cancellationToken);
        var archived = 0;
        long events = 0;
        foreach (var sessionId in candidates)
        {
            events += await ArchiveOneAsync(sessionId, reason, cancellationToken);
            archived++;
            progress?.Report(new ArchiveProgress(archived, candidates.Count, events));
        }
        return archived;
    }

    private async Task<int> ArchiveOneAsync(string sessionId, string reason, CancellationToken cancellationToken)
    {
        await using var session = store.LightweightSession();
        var events = await session.Events.FetchStreamAsync(sessionId, token: cancellationToken);
        if (events.Count == 0) return 0;
        var now = clock.GetUtcNow();
        var folder = Path.Combine(Path.GetFullPath(options.Value.ArchiveFolder), now.ToString("yyyy-MM-dd"));
        Directory.CreateDirectory(folder);
        var file = Path.Combine(folder, string.Concat(sessionId.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')) + ".jsonl");
        string sha256;
        await using (var stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.WriteThrough))
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            foreach (var e in events)
            {
                var line = EventLine.Serialize(e);
                await stream.WriteAsync(line, cancellationToken);
                hash.AppendData(line);
            }
            await stream.FlushAsync(cancellationToken);
            sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
        }

        var lastHash = events[^1].Headers?.GetValueOrDefault(AuditChain.HashHeader)?.ToString() ?? "";
        session.Events.TombstoneStream(sessionId);
        session.Delete<SessionTimeline>(sessionId);
        session.Delete<SessionChain>(sessionId);
        await session.SaveChangesAsync(cancellationToken);

        // The removal itself goes into the record, chained like any other event.
        await using var recording = store.LightweightSession();
        var recorder = new SessionRecorder(recording, Microsoft.Extensions.Logging.Abstractions.NullLogger<SessionRecorder>.Instance);
        await recorder.RecordAsync([new Arrival(new SessionArchived(NewId.NextGuid(), SessionArchived.RetentionSession, sessionId,
            events.Count, lastHash, file, sha256, reason, now), NewId.NextGuid().ToString())], cancellationToken);
        logger.LogInformation("Session {SessionId} archived to {File} ({Events} events) and removed", sessionId, file, events.Count);
        return events.Count;
    }
}

/// <summary>How far an archive run is: sessions archived of those found, and the events they held.</summary>
public readonly record struct ArchiveProgress(int Sessions, int Of, long Events);

/// <summary>Runs retention every <see cref="RetentionOptions.RetentionSweepInterval"/> when <see cref="RetentionOptions.Retention"/> is set.</summary>
public sealed class RetentionSweep(SessionArchiver archiver, IOptions<RetentionOptions> options, TimeProvider clock,
    ILogger<RetentionSweep> logger) : PeriodicSweep(clock, logger)
{
    protected override TimeSpan Interval => options.Value.RetentionSweepInterval;

    protected override string AfterFailure => "nothing was removed that is not archived";

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.Retention is null)
        {
            Logger.LogInformation("Audit:Retention is not set: sessions are kept");
            return Task.CompletedTask;
        }
        return base.ExecuteAsync(stoppingToken);
    }

    protected override async Task SweepAsync(CancellationToken cancellationToken)
    {
        var retention = options.Value.Retention!.Value;
        var archived = await archiver.ArchiveAsync(Clock.GetUtcNow() - retention, null, $"retention {retention}", cancellationToken);
        if (archived > 0) Logger.LogInformation("Retention archived {Count} session(s)", archived);
    }
}
