using System.Diagnostics.Metrics;
using Marten;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.Audit.Progress;

/// <summary>
/// Every five seconds, how far each async projection is behind the store's highest event, for the
/// <c>portcullis_audit_projection_lag</c> gauge (read from what was last found, so a scrape never queries the store).
/// </summary>
public sealed class ProjectionLagWatch(IDocumentStore store, ILogger<ProjectionLagWatch> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);
    private volatile IReadOnlyList<Measurement<long>> _behind = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        PortcullisMetrics.ObserveAuditProjectionLag(() => _behind);
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                var highest = (await store.Advanced.FetchEventStoreStatistics(token: stoppingToken)).EventSequenceNumber;
                var shards = await store.Advanced.AllProjectionProgress(token: stoppingToken);
                _behind = shards.Where(s => s.ShardName != "HighWaterMark")
                    .Select(s => new Measurement<long>(Math.Max(0, highest - s.Sequence),
                        new KeyValuePair<string, object?>("projection", s.ShardName)))
                    .ToList();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug("Projection lag not measured ({Reason})", ex.GetType().Name);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(t => !t.IsCanceled && t.Result));
    }
}
