using System.Text.Json;
using System.Threading.Channels;
using Marten;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Portcullis.Audit.Recording;

/// <summary>Ingest settings (section "Audit").</summary>
public sealed class IngestOptions
{
    /// <summary>The audit queue, bound to every audited event's exchange.</summary>
    public string Queue { get; set; } = "audit-session-event";

    /// <summary>Most events stored in one transaction.</summary>
    public int BatchSize { get; set; } = 500;
}

/// <summary>
/// Reads the audit queue in delivery order and stores what it reads in batches. A session's events must be
/// stored in the order the broker delivered them (each links to the hash of the one before), which
/// MassTransit's consumers do only one message and one transaction at a time: its partitioner and its batch
/// consumer dispatch deliveries concurrently, and a late one can land behind a later one. So this reads
/// the queue with RabbitMQ.Client directly: one exclusive consumer (another audit instance waits as a hot
/// standby), deliveries handed on in order, taken as they come up to <see cref="IngestOptions.BatchSize"/>,
/// stored in one transaction, then acknowledged together. A batch that fails is not acknowledged: the channel
/// is closed and the broker delivers it again; storage is exactly-once by message id, so nothing doubles.
/// Messages that cannot be read as events go to the "{queue}_error" queue, whole.
/// </summary>
public sealed class AuditIngestor(IConfiguration configuration, IDocumentStore store, IOptions<IngestOptions> options,
    ILoggerFactory loggers, ILogger<AuditIngestor> logger) : BackgroundService, IHealthCheck
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private volatile string _state = "not connected yet";
    private volatile bool _consuming;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_consuming ? HealthCheckResult.Healthy("consuming the audit queue") : HealthCheckResult.Unhealthy(_state));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var broker = BrokerAddress.Parse(configuration.GetConnectionString("RabbitMq"));
        var factory = new ConnectionFactory
        {
            HostName = broker.Host, Port = broker.Port, VirtualHost = broker.VirtualHost,
            UserName = broker.Username, Password = broker.Password,
            ClientProvidedName = "audit-ingest", AutomaticRecoveryEnabled = false,
            RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
        };
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ConsumeAsync(factory, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _consuming = false;
                _state = $"{ex.GetType().Name}: {ex.Message}";
                logger.LogWarning("Audit ingest stopped ({Reason}); unacknowledged events will be delivered again. Reconnecting in 2 s",
                    _state);
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken).ContinueWith(_ => { });
            }
        }
        _consuming = false;
    }

    private async Task ConsumeAsync(ConnectionFactory factory, CancellationToken stoppingToken)
    {
        var settings = options.Value;
        await using var connection = await factory.CreateConnectionAsync(stoppingToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        await channel.QueueDeclareAsync(settings.Queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: stoppingToken);
        await channel.QueueDeclareAsync(settings.Queue + "_error", durable: true, exclusive: false, autoDelete: false, cancellationToken: stoppingToken);
        foreach (var type in AuditedEvents.Types)
        {
            // The exchanges MassTransit publishes to: fanout, durable, named after the type.
            await channel.ExchangeDeclareAsync(AuditedEvents.ExchangeOf(type), ExchangeType.Fanout, durable: true, cancellationToken: stoppingToken);
            await channel.QueueBindAsync(settings.Queue, AuditedEvents.ExchangeOf(type), "", cancellationToken: stoppingToken);
        }
        await channel.BasicQosAsync(0, (ushort)Math.Min(settings.BatchSize * 2, ushort.MaxValue), false, stoppingToken);

        var deliveries = Channel.CreateUnbounded<(ulong Tag, byte[] Body)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            deliveries.Writer.TryWrite((delivery.DeliveryTag, delivery.Body.ToArray()));
            return Task.CompletedTask;
        };
        consumer.ShutdownAsync += (_, reason) =>
        {
            deliveries.Writer.TryComplete(new InvalidOperationException($"the broker closed the channel: {reason.ReplyText}"));
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(settings.Queue, autoAck: false, consumerTag: "", noLocal: false, exclusive: true,
            arguments: null, consumer: consumer, cancellationToken: stoppingToken);
        _consuming = true;
        logger.LogInformation("Consuming {Queue} in batches of up to {BatchSize}", settings.Queue, settings.BatchSize);

        var batch = new List<(ulong Tag, byte[] Body)>(settings.BatchSize);
        while (true)
        {
            batch.Clear();
            batch.Add(await deliveries.Reader.ReadAsync(stoppingToken));
            while (batch.Count < settings.BatchSize && deliveries.Reader.TryRead(out var next)) batch.Add(next);
            await StoreAsync(channel, batch, settings, stoppingToken);
            await channel.BasicAckAsync(batch[^1].Tag, multiple: true, stoppingToken);
        }
    }

    private async Task StoreAsync(IChannel channel, List<(ulong Tag, byte[] Body)> batch, IngestOptions settings,
        CancellationToken cancellationToken)
    {
        var arrivals = new List<Arrival>(batch.Count);
        foreach (var (_, body) in batch)
        {
            if (Read(body) is { } arrival) arrivals.Add(arrival);
            else
            {
                // Kept whole for someone to look at; never silently dropped.
                await channel.BasicPublishAsync("", settings.Queue + "_error", mandatory: false, body: body, cancellationToken: cancellationToken);
                logger.LogError("A message on {Queue} is not an audited event; moved to {ErrorQueue}", settings.Queue, settings.Queue + "_error");
            }
        }
        if (arrivals.Count == 0) return;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var session = store.LightweightSession();
                await new SessionRecorder(session, loggers.CreateLogger<SessionRecorder>()).RecordAsync(arrivals, cancellationToken);
                return;
            }
            catch (Exception ex) when (SessionRecorder.IsRace(ex) && attempt < 5)
            {
                logger.LogInformation("Batch of {Count} raced another writer; reading the chains again (attempt {Attempt})",
                    arrivals.Count, attempt);
            }
        }
    }

    /// <summary>An audited event out of MassTransit's envelope, or null when the message is not one.</summary>
    public static Arrival? Read(byte[] body)
    {
        try
        {
            using var envelope = JsonDocument.Parse(body);
            var root = envelope.RootElement;
            if (!root.TryGetProperty("messageId", out var id) || id.GetString() is not { Length: > 0 } messageId) return null;
            if (!root.TryGetProperty("messageType", out var types) || !root.TryGetProperty("message", out var message)) return null;
            foreach (var urn in types.EnumerateArray())
                if (urn.GetString() is { } name && AuditedEvents.ByUrn.TryGetValue(name, out var type))
                    return message.Deserialize(type, Json) is IRequestMessage request && !string.IsNullOrEmpty(request.SessionId)
                        ? new Arrival(request, messageId)
                        : null;
            return null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
