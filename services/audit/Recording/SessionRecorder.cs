using JasperFx;
using Marten;
using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

/// <summary>
/// Appends an event to its session's stream exactly once (keyed by the message id, whatever the number of
/// deliveries) and links it into the session's hash chain, all in one transaction.
/// </summary>
public sealed class SessionRecorder(IDocumentSession session, ILogger<SessionRecorder> logger)
{
    public async Task Record(IRequestMessage message, Guid? messageId, CancellationToken cancellationToken)
    {
        var id = (messageId ?? throw new InvalidOperationException("A message without a message id cannot be recorded exactly once.")).ToString();
        if (await session.LoadAsync<RecordedMessage>(id, cancellationToken) is not null)
        {
            logger.LogInformation("Message {MessageId} is already recorded; the redelivery is skipped", id);
            return;
        }

        var chain = await session.LoadAsync<SessionChain>(message.SessionId, cancellationToken)
                    ?? new SessionChain { Id = message.SessionId };
        var hash = AuditChain.Hash(chain.LastHash, id, message.GetType().Name, message);
        var appended = session.Events.Append(message.SessionId, message).Events[0];
        appended.SetHeader(AuditChain.MessageIdHeader, id);
        appended.SetHeader(AuditChain.PreviousHashHeader, chain.LastHash);
        appended.SetHeader(AuditChain.HashHeader, hash);
        (chain.LastHash, chain.Events) = (hash, chain.Events + 1);
        session.Store(chain);
        session.Insert(new RecordedMessage { Id = id, SessionId = message.SessionId });
        try
        {
            await session.SaveChangesAsync(cancellationToken);
        }
        catch (DocumentAlreadyExistsException)
        {
            // Another delivery of the same message won the race: it is recorded once, by that one.
            logger.LogInformation("Message {MessageId} was recorded by a concurrent delivery", id);
        }
    }
}
