using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using Portcullis.Gateway.Problems;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Portcullis.Gateway.Recording;

/// <summary>Strict recording settings (section "Gateway").</summary>
public sealed class AuditRecordingOptions
{
    /// <summary>Refuse agent actions while the audit trail is not keeping up (Teleport's strict recording mode).</summary>
    public bool RequireAudit { get; set; } = true;

    /// <summary>How far behind the record may be, and how old the newest audit heartbeat, before actions are refused.</summary>
    public TimeSpan AuditLagCeiling { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The audit queue, whose consumers are counted (it must match the audit's Audit:Queue).</summary>
    public string AuditQueue { get; set; } = "audit-session-event";
}

/// <summary>
/// Knows whether the audit trail is keeping up, from two sources: the audit instances' <see cref="AuditProgress"/>
/// heartbeats (a queue of this gateway's own, bound to their exchange) and the audit queue's consumer count (a
/// passive declare every second). A paused audit process keeps its connection and its consumer, so only its
/// silence shows it: a heartbeat older than the ceiling refuses as a lag above it does. While it refuses,
/// the gateway answers 503 with the reason before anything is published or run, and is not ready.
/// </summary>
public sealed class AuditRecordingMonitor(IConfiguration configuration, IOptions<AuditRecordingOptions> options,
    TimeProvider clock, ILogger<AuditRecordingMonitor> logger) : BackgroundService, IHealthCheck
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly ConcurrentDictionary<string, (DateTimeOffset ReceivedAt, AuditProgress Progress)> _heartbeats = new(StringComparer.Ordinal);
    private readonly DateTimeOffset _startedAt = clock.GetUtcNow();
    private volatile string? _brokerProblem = "not connected to the broker yet";
    private long _consumers = -1; // -1: not counted yet
    private string? _lastRefusal;

    /// <summary>Why agent actions are refused now, or null when the record keeps up (or is not required).</summary>
    public string? Refusal()
    {
        var settings = options.Value;
        if (!settings.RequireAudit) return null;
        var reason = Evaluate(settings.AuditLagCeiling);
        var previous = Interlocked.Exchange(ref _lastRefusal, reason);
        if (reason is not null && previous is null) logger.LogWarning("Refusing agent actions: {Reason}", reason);
        else if (reason is null && previous is not null) logger.LogInformation("The audit trail keeps up again; serving agent actions");
        return reason;
    }

    private string? Evaluate(TimeSpan ceiling)
    {
        var now = clock.GetUtcNow();
        if (_brokerProblem is { } problem) return $"the gateway cannot watch the audit trail ({problem})";
        if (Interlocked.Read(ref _consumers) == 0) return "no audit service is consuming the audit queue";
        var fresh = _heartbeats.Values.Where(h => now - h.ReceivedAt <= ceiling).ToList();
        if (fresh.Count == 0)
            return _heartbeats.IsEmpty
                ? $"no audit service has reported its progress for {Seconds(now - _startedAt)} s (since the gateway started)"
                : $"the audit trail has not reported its progress for {Seconds(now - _heartbeats.Values.Max(h => h.ReceivedAt))} s";
        var recording = fresh.Where(h => h.Progress.Recording).Select(h => h.Progress).ToList();
        if (recording.Count == 0)
            return $"the audit service is not recording ({fresh.Select(h => h.Progress.NotRecordingReason).FirstOrDefault(r => r is not null) ?? "no reason given"})";
        var best = recording.MinBy(p => p.LagSeconds)!;
        if (best.LagSeconds > ceiling.TotalSeconds)
            return $"the audit trail is {best.LagSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s behind " +
                   $"(ceiling {Seconds(ceiling)} s, {best.Backlog} events waiting)";
        return null;
    }

    private static string Seconds(TimeSpan span) => Math.Max(0, span.TotalSeconds).ToString("0", CultureInfo.InvariantCulture);

    /// <summary>Answers a refused agent request: 503, with the reason, before anything of it is published or run.</summary>
    public async Task RefuseAsync(HttpContext context, string reason)
    {
        var retryAfter = (int)Math.Ceiling(options.Value.AuditLagCeiling.TotalSeconds);
        var body = ProblemDocument.Bytes(context, StatusCodes.Status503ServiceUnavailable, "audit-behind",
            "The audit trail is not keeping up",
            $"The action was not run: {reason}. Actions are refused until it catches up; retry in a few seconds.",
            new() { ["retryAfterSeconds"] = retryAfter });
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/problem+json";
        context.Response.ContentLength = body.Length;
        context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Refusal() is { } reason
            ? HealthCheckResult.Unhealthy($"agent actions are refused: {reason}")
            : HealthCheckResult.Healthy(options.Value.RequireAudit ? "the audit trail keeps up" : "the audit trail is not required"));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.RequireAudit) return;
        var factory = BrokerAddress.Parse(configuration.GetConnectionString("RabbitMq")).ConnectionFactory("gateway-audit-watch");
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await WatchAsync(factory, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _brokerProblem = $"{ex.GetType().Name}: {ex.Message}";
                Interlocked.Exchange(ref _consumers, -1);
                logger.LogWarning("Watching the audit trail stopped ({Reason}); reconnecting in 1 s", _brokerProblem);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken).ContinueWith(_ => { });
            }
        }
    }

    private async Task WatchAsync(ConnectionFactory factory, CancellationToken stoppingToken)
    {
        await using var connection = await factory.CreateConnectionAsync(stoppingToken);
        await using var heartbeats = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        await heartbeats.ExchangeDeclareAsync(AuditProgress.Exchange, ExchangeType.Fanout, durable: true, cancellationToken: stoppingToken);
        var queue = (await heartbeats.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true,
            cancellationToken: stoppingToken)).QueueName;
        await heartbeats.QueueBindAsync(queue, AuditProgress.Exchange, "", cancellationToken: stoppingToken);
        var closed = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        connection.ConnectionShutdownAsync += (_, reason) =>
        {
            closed.TrySetResult(reason.ReplyText);
            return Task.CompletedTask;
        };
        var consumer = new AsyncEventingBasicConsumer(heartbeats);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            try
            {
                if (JsonSerializer.Deserialize<AuditProgress>(delivery.Body.Span, Json) is { Node.Length: > 0 } progress)
                    _heartbeats[progress.Node] = (clock.GetUtcNow(), progress);
            }
            catch (JsonException)
            {
                logger.LogWarning("A message on {Exchange} is not an audit progress report; ignored", AuditProgress.Exchange);
            }
            return Task.CompletedTask;
        };
        await heartbeats.BasicConsumeAsync(queue, autoAck: true, consumer, stoppingToken);

        var counting = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), clock);
            do
            {
                if (closed.Task.IsCompleted) throw new InvalidOperationException($"the broker closed the connection: {await closed.Task}");
                try
                {
                    var declared = await counting.QueueDeclarePassiveAsync(options.Value.AuditQueue, stoppingToken);
                    Interlocked.Exchange(ref _consumers, declared.ConsumerCount);
                }
                catch (OperationInterruptedException)
                {
                    // No audit queue at all: nobody has ever consumed it. The passive declare closed the channel.
                    Interlocked.Exchange(ref _consumers, 0);
                    await counting.DisposeAsync();
                    counting = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
                }
                _brokerProblem = null;
                // Instances that stopped reporting long ago are forgotten (a restarted audit has a new node name).
                foreach (var (node, heartbeat) in _heartbeats)
                    if (clock.GetUtcNow() - heartbeat.ReceivedAt > TimeSpan.FromMinutes(5)) _heartbeats.TryRemove(node, out _);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        finally
        {
            await counting.DisposeAsync();
        }
    }
}
