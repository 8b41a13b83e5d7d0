using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Marten;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Telemetry;
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

    /// <summary>
    /// How long a batch waits for more events after its first one before it is stored. Each batch is one durable
    /// commit and a few statements, so a request's five events, which arrive a few milliseconds apart, cost one
    /// batch instead of five; nothing is acknowledged before it is stored, so the wait delays the record, never loses it.
    /// </summary>
    public TimeSpan BatchLinger { get; set; } = TimeSpan.FromMilliseconds(50);
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
/// One bad event does not stop the record: a message that cannot be read as an event, and an event the store
/// refuses for its data (found by splitting the batch, <see cref="PoisonIsolation"/>), go to the "{queue}_error"
/// queue whole, and an <see cref="EventQuarantined"/> takes their place in their session's stream. Strings the store
/// cannot keep as they are (a NUL in an agent's SQL) are stored escaped (<see cref="StorableForm"/>), not set aside.
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
        var factory = BrokerAddress.Parse(configuration.GetConnectionString("RabbitMq")).ConnectionFactory("audit-ingest");
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
        // Publisher confirmations, so a message set aside is in the error queue before its original is acknowledged.
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true), stoppingToken);
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
            await FillAsync(deliveries.Reader, batch, settings, stoppingToken);
            await StoreAsync(channel, batch, settings, stoppingToken);
            await channel.BasicAckAsync(batch[^1].Tag, multiple: true, stoppingToken);
        }
    }

    /// <summary>Takes what has arrived, and what arrives within the linger, up to the batch size.</summary>
    private static async Task FillAsync(ChannelReader<(ulong Tag, byte[] Body)> reader, List<(ulong Tag, byte[] Body)> batch,
        IngestOptions settings, CancellationToken stoppingToken)
    {
        while (batch.Count < settings.BatchSize && reader.TryRead(out var next)) batch.Add(next);
        if (batch.Count >= settings.BatchSize || settings.BatchLinger <= TimeSpan.Zero) return;
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        linger.CancelAfter(settings.BatchLinger);
        try
        {
            while (batch.Count < settings.BatchSize && await reader.WaitToReadAsync(linger.Token))
                while (batch.Count < settings.BatchSize && reader.TryRead(out var next)) batch.Add(next);
        }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
        {
            // The linger is over: the batch is what came.
        }
    }

    private async Task StoreAsync(IChannel channel, List<(ulong Tag, byte[] Body)> batch, IngestOptions settings,
        CancellationToken cancellationToken)
    {
        var pending = new List<Pending>(batch.Count);
        foreach (var (_, body) in batch)
        {
            if (Read(body, out var reason) is { } arrival) pending.Add(new Pending(arrival, body, SetAside: false));
            else
            {
                // Kept whole for someone to look at, and its place in the record taken by a note saying so.
                await PublishToErrorQueueAsync(channel, settings, body, reason, cancellationToken);
                pending.Add(new Pending(Quarantined(body, Identify(body), reason), body, SetAside: true));
            }
        }
        var started = DateTimeOffset.UtcNow;
        await PoisonIsolation.StoreAsync(pending, part => RecordAsync([.. part.Select(p => p.Arrival)], cancellationToken),
            (refused, failure) => SetAsideAsync(channel, settings, refused, failure, cancellationToken));
        Trace(pending, started);
    }

    /// <summary>
    /// When tracing is on, one span per recorded event in its request's trace (the parent its envelope names): the
    /// audit is the saga's last step. The envelope is read again only then, so the ingest pays nothing otherwise.
    /// </summary>
    private static void Trace(List<Pending> pending, DateTimeOffset started)
    {
        if (!PortcullisActivities.Source.HasListeners()) return;
        foreach (var item in pending)
        {
            if (item.SetAside || TraceParent(item.Body) is not { } parent) continue;
            using var activity = PortcullisActivities.Source.StartActivity("audit record " + item.Arrival.Message.GetType().Name,
                ActivityKind.Consumer, parent, startTime: started);
            PortcullisActivities.Tag(activity, item.Arrival.Message.RequestId, item.Arrival.Message.SessionId);
        }
    }

    /// <summary>The trace context MassTransit put in the envelope's headers, if any.</summary>
    private static ActivityContext? TraceParent(byte[] body)
    {
        try
        {
            using var envelope = JsonDocument.Parse(body);
            if (!envelope.RootElement.TryGetProperty("headers", out var headers) || headers.ValueKind != JsonValueKind.Object) return null;
            foreach (var name in (string[])["traceparent", "Diagnostic-Id", "MT-Activity-Id"])
                if (headers.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
                    && ActivityContext.TryParse(value.GetString(), null, isRemote: true, out var context))
                    return context;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not an envelope that can carry one: no span.
        }
        return null;
    }

    private async Task RecordAsync(IReadOnlyList<Arrival> arrivals, CancellationToken cancellationToken)
    {
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

    /// <summary>
    /// One event the store refused alone: its message goes to the error queue whole and an <see cref="EventQuarantined"/>
    /// takes its place in its session.
    /// </summary>
    private async Task SetAsideAsync(IChannel channel, IngestOptions settings, Pending refused, Exception failure,
        CancellationToken cancellationToken)
    {
        if (refused.SetAside) // the note for a message already in the error queue
        {
            await NoteElsewhereAsync(refused.Arrival, failure, settings, cancellationToken);
            return;
        }
        var reason = PoisonIsolation.Reason(failure);
        await PublishToErrorQueueAsync(channel, settings, refused.Body, reason, cancellationToken);
        var message = refused.Arrival.Message;
        var note = Quarantined(refused.Body,
            new Identity(refused.Arrival.MessageId, message.GetType().Name, message.RequestId, message.SessionId), reason);
        await PoisonIsolation.StoreAsync([note], notes => RecordAsync(notes, cancellationToken),
            (_, again) => NoteElsewhereAsync(note, again, settings, cancellationToken));
    }

    /// <summary>A note the store refused in its session (a session id too long to key, say): in the audit's own, else logged.</summary>
    private async Task NoteElsewhereAsync(Arrival note, Exception failure, IngestOptions settings, CancellationToken cancellationToken)
    {
        var quarantined = (EventQuarantined)note.Message;
        if (quarantined.SessionId == EventQuarantined.UnknownSession)
        {
            logger.LogCritical("A quarantined message (body SHA-256 {Sha256}) is in {ErrorQueue} but its quarantine record could not be stored: {Reason}",
                quarantined.BodySha256, settings.Queue + "_error", PoisonIsolation.Reason(failure));
            return;
        }
        var moved = note with { Message = quarantined with { SessionId = EventQuarantined.UnknownSession } };
        await PoisonIsolation.StoreAsync([moved], notes => RecordAsync(notes, cancellationToken),
            (_, again) => NoteElsewhereAsync(moved, again, settings, cancellationToken));
    }

    private async Task PublishToErrorQueueAsync(IChannel channel, IngestOptions settings, byte[] body, string reason,
        CancellationToken cancellationToken)
    {
        var properties = new BasicProperties
        {
            Persistent = true,
            Headers = new Dictionary<string, object?>
            {
                ["portcullis-quarantine-reason"] = reason,
                ["portcullis-body-sha256"] = Sha256(body),
            },
        };
        // Confirmed by the broker (the channel has publisher confirmations) before the original is acknowledged.
        await channel.BasicPublishAsync("", settings.Queue + "_error", mandatory: false, properties, body, cancellationToken);
        logger.LogError("A message on {Queue} could not be recorded ({Reason}); moved to {ErrorQueue} and its place recorded as EventQuarantined",
            settings.Queue, reason, settings.Queue + "_error");
    }

    // The note's message id is the same for every delivery of the same body: a redelivered batch does not note it twice.
    private static Arrival Quarantined(byte[] body, Identity identity, string reason)
    {
        var session = identity.SessionId is { Length: > 0 } id && StorableText.IsStorable(id) ? id : EventQuarantined.UnknownSession;
        var sha256 = Sha256(body);
        return new Arrival(new EventQuarantined(identity.RequestId ?? Guid.Empty, session,
            identity.MessageId is null ? null : StorableText.Storable(identity.MessageId),
            StorableText.Storable(identity.Type ?? "unknown"), StorableText.Storable(reason), sha256, DateTimeOffset.UtcNow),
            "quarantine:" + sha256);
    }

    private static string Sha256(byte[] body) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body));

    /// <summary>A delivery on its way to the store: the event (or the note that takes the place of one that could not be read).</summary>
    private readonly record struct Pending(Arrival Arrival, byte[] Body, bool SetAside);

    /// <summary>What could be read of a message that is not a storable event, for its quarantine record.</summary>
    public readonly record struct Identity(string? MessageId, string? Type, Guid? RequestId, string? SessionId);

    /// <summary>Whatever of the envelope's message id, type, request and session can be read, each on its own.</summary>
    public static Identity Identify(byte[] body)
    {
        try
        {
            using var envelope = JsonDocument.Parse(body);
            var root = envelope.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return default;
            string? Text(JsonElement parent, string name)
            {
                try
                {
                    return parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value)
                        && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                }
                catch (InvalidOperationException)
                {
                    return null; // not valid UTF-8 or UTF-16
                }
            }
            string? type = null;
            if (root.TryGetProperty("messageType", out var types) && types.ValueKind == JsonValueKind.Array)
                foreach (var urn in types.EnumerateArray())
                {
                    try
                    {
                        if (urn.ValueKind == JsonValueKind.String && urn.GetString() is { } name)
                            type ??= AuditedEvents.ByUrn.TryGetValue(name, out var known) ? known.Name : name;
                    }
                    catch (InvalidOperationException) { } // not valid UTF-8 or UTF-16
                }
            var message = root.TryGetProperty("message", out var m) ? m : default;
            Guid? request = Text(message, "requestId") is { } r && Guid.TryParse(r, out var g) ? g : null;
            return new Identity(Text(root, "messageId"), type, request, Text(message, "sessionId"));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            return default;
        }
    }

    /// <summary>An audited event out of MassTransit's envelope, or null when the message is not one.</summary>
    public static Arrival? Read(byte[] body) => Read(body, out _);

    /// <summary>
    /// An audited event out of MassTransit's envelope, or null with the reason when the message is not one. Any
    /// failure to read is a reason, never an exception: an unreadable message must not stop the ingest.
    /// </summary>
    public static Arrival? Read(byte[] body, out string reason)
    {
        try
        {
            using var envelope = JsonDocument.Parse(body);
            var root = envelope.RootElement;
            reason = "it is not a MassTransit envelope with a message id, a message type and a message";
            if (root.ValueKind != JsonValueKind.Object) return null;
            if (!root.TryGetProperty("messageId", out var id) || id.ValueKind != JsonValueKind.String
                || id.GetString() is not { Length: > 0 } messageId) return null;
            if (!root.TryGetProperty("messageType", out var types) || types.ValueKind != JsonValueKind.Array
                || !root.TryGetProperty("message", out var message)) return null;
            // The identifiers become keys (the stream's, the exactly-once table's): escaping them would merge or split
            // sessions, so a message whose identifiers PostgreSQL cannot keep is set aside instead.
            reason = "its message id holds characters the store cannot keep";
            if (!StorableText.IsStorable(messageId)) return null;
            reason = "it is not one of the audited event types";
            foreach (var urn in types.EnumerateArray())
                if (urn.ValueKind == JsonValueKind.String && urn.GetString() is { } name && AuditedEvents.ByUrn.TryGetValue(name, out var type))
                {
                    if (message.Deserialize(type, Json) is not IRequestMessage request || string.IsNullOrEmpty(request.SessionId))
                    {
                        reason = $"its {type.Name} has no session id";
                        return null;
                    }
                    reason = $"its {type.Name} has a session id with characters the store cannot keep";
                    return StorableText.IsStorable(request.SessionId) ? new Arrival(request, messageId) : null;
                }
            return null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException or NotSupportedException
                                       or FormatException or OverflowException)
        {
            // Not JSON, not valid UTF-8 or UTF-16, a field of the wrong type, nested too deep: the message, not the ingest.
            reason = $"it cannot be read as an audited event: {ex.GetType().Name}";
            return null;
        }
    }
}
