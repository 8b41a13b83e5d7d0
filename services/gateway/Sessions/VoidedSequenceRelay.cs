using MassTransit;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;

namespace Portcullis.Gateway.Sessions;

/// <summary>
/// The outbox relay of voided sequence numbers: publishes each row of <c>gateway.voided_sequences</c> as a
/// <see cref="RequestSequenceVoided"/> once the broker takes it, and deletes the row only after the broker confirmed
/// the publish. Every gateway instance runs one; each row is held by one instance at a time (FOR UPDATE SKIP LOCKED),
/// and the message id is derived from the request, so a row published twice (an instance that died between the
/// confirmation and the delete) is recorded once.
/// </summary>
public sealed class VoidedSequenceRelay(SessionLedger ledger, IBus bus, ILogger<VoidedSequenceRelay> logger) : BackgroundService
{
    /// <summary>How often the outbox is looked at while it is empty or the broker refuses.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(10);
    private const int Batch = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var relayed = await ledger.RelayVoidedAsync(Batch, PublishAsync, stoppingToken);
                if (relayed > 0) logger.LogInformation("Relayed {Count} voided session sequence numbers to the audit", relayed);
                if (failing) logger.LogInformation("The voided sequence numbers are relayed again");
                failing = false;
                if (relayed == Batch) continue; // more waiting
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // The broker or the database is away: the rows stay, and the next round tries again.
                if (!failing)
                    logger.LogWarning("Voided sequence numbers could not be relayed yet ({Reason}: {Message}); retrying",
                        ex.GetType().Name, ex.Message);
                failing = true;
            }
            try
            {
                await Task.Delay(Interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task PublishAsync(IReadOnlyList<VoidedSequence> voided, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(PublishTimeout);
        // Each publish returns once the broker confirmed it; the rows are deleted only after the last one.
        foreach (var v in voided)
            await bus.Publish(new RequestSequenceVoided(v.RequestId, v.SessionId, v.Sequence, v.Reason, v.At),
                publish => publish.MessageId = EventMessageId.For<RequestSequenceVoided>(v.RequestId), deadline.Token);
    }
}
