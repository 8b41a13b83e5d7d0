using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Health;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Portcullis.Audit.Progress;

/// <summary>
/// Publishes <see cref="AuditProgress"/> every second: recording when this instance's readiness checks pass
/// (it holds the audit queue's consumer, and PostgreSQL answers), the lag from <see cref="AuditCommitWatch"/>,
/// and the events ready in the queue (a passive declare). A paused or dead process publishes nothing, which
/// the gateways see as the heartbeat growing old.
/// </summary>
public sealed class AuditProgressReporter(IConfiguration configuration, HealthCheckService health, AuditCommitWatch commits,
    IOptions<IngestOptions> ingest, TimeProvider clock, ILogger<AuditProgressReporter> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _node = $"{Environment.MachineName}:{Environment.ProcessId}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var factory = BrokerAddress.Parse(configuration.GetConnectionString("RabbitMq")).ConnectionFactory("audit-progress");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ReportAsync(factory, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                logger.LogWarning("Audit progress reports stopped ({Reason}: {Message}); reconnecting in 1 s", ex.GetType().Name, ex.Message);
                await Task.Delay(Interval, stoppingToken).ContinueWith(_ => { });
            }
        }
    }

    private async Task ReportAsync(ConnectionFactory factory, CancellationToken stoppingToken)
    {
        await using var connection = await factory.CreateConnectionAsync(stoppingToken);
        var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        await channel.ExchangeDeclareAsync(AuditProgress.Exchange, ExchangeType.Fanout, durable: true, cancellationToken: stoppingToken);
        var properties = new BasicProperties
        {
            ContentType = "application/json",
            DeliveryMode = DeliveryModes.Transient,
            Expiration = "10000", // a heartbeat nobody read in time says nothing any more
        };
        using var timer = new PeriodicTimer(Interval, clock);
        do
        {
            long backlog;
            try
            {
                backlog = (await channel.QueueDeclarePassiveAsync(ingest.Value.Queue, stoppingToken)).MessageCount;
            }
            catch (OperationInterruptedException)
            {
                // The queue is not there yet (the ingest declares it): the passive declare closed the channel.
                backlog = -1;
                await channel.DisposeAsync();
                channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
            }
            var report = await health.CheckHealthAsync(check => check.Tags.Contains(HealthExtensions.ReadyTag), stoppingToken);
            var recording = report.Status == HealthStatus.Healthy;
            var reason = recording ? null : string.Join("; ", report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy)
                .Select(e => $"{e.Key}: {e.Value.Description}"));
            var progress = new AuditProgress(_node, clock.GetUtcNow(), recording, reason,
                Math.Round(commits.Lag(backlog).TotalSeconds, 3), backlog, commits.NewestStoredEventAt);
            await channel.BasicPublishAsync(AuditProgress.Exchange, "", mandatory: false, properties,
                JsonSerializer.SerializeToUtf8Bytes(progress, Json), stoppingToken);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
