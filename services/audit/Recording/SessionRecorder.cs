using JasperFx;
using Marten;
using Npgsql;
using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

/// <summary>One event to record, with the message id that makes its storage exactly-once.</summary>
public readonly record struct Arrival(IRequestMessage Message, string MessageId);

/// <summary>
/// Appends events to their sessions' streams, in the order given, exactly once (keyed by the message id,
/// whatever the number of deliveries), each linked into its session's hash chain; a whole batch in one
/// transaction. The chain heads are stored with optimistic concurrency, so a writer that raced another is
/// refused rather than forking a chain.
/// </summary>
public sealed class SessionRecorder(IDocumentSession session, ILogger<SessionRecorder> logger)
{
    /// <summary>Records the batch; returns how many events were new.</summary>
    public async Task<int> RecordAsync(IReadOnlyList<Arrival> batch, CancellationToken cancellationToken)
    {
        var ids = batch.Select(a => a.MessageId).Distinct(StringComparer.Ordinal).ToArray();
        var seen = (await session.QueryAsync<string>(RecordedMessages.Seen, cancellationToken, [ids])).ToHashSet(StringComparer.Ordinal);
        var sessions = batch.Select(a => a.Message.SessionId).Distinct(StringComparer.Ordinal).ToArray();
        var chains = (await session.LoadManyAsync<SessionChain>(cancellationToken, sessions))
            .ToDictionary(chain => chain.Id, StringComparer.Ordinal);
        var changed = new HashSet<string>(StringComparer.Ordinal);
        var (recordedIds, recordedSessions) = (new List<string>(batch.Count), new List<string>(batch.Count));
        foreach (var (message, id) in batch)
        {
            if (!seen.Add(id))
            {
                logger.LogInformation("Message {MessageId} is already recorded; the redelivery is skipped", id);
                continue;
            }
            if (!chains.TryGetValue(message.SessionId, out var chain))
                chains[message.SessionId] = chain = new SessionChain { Id = message.SessionId };
            // The chain covers the event as it was sent; the store gets a form it can keep (escaped when it must be).
            var json = AuditChain.Serialize(message);
            var hash = AuditChain.HashJson(chain.LastHash, id, message.GetType().Name, json);
            var (stored, escaped) = StorableForm.Of(message, json);
            // One stream action per stream and session: this event is the last one appended to it.
            var appended = session.Events.Append(message.SessionId, stored).Events[^1];
            if (escaped) appended.SetHeader(AuditChain.EscapedHeader, "true");
            appended.SetHeader(AuditChain.MessageIdHeader, id);
            appended.SetHeader(AuditChain.PreviousHashHeader, chain.LastHash);
            appended.SetHeader(AuditChain.HashHeader, hash);
            (chain.LastHash, chain.Events) = (hash, chain.Events + 1);
            changed.Add(chain.Id);
            recordedIds.Add(id);
            recordedSessions.Add(message.SessionId);
        }
        if (recordedIds.Count == 0) return 0;
        foreach (var id in changed) session.Store(chains[id]);
        // The batch's exactly-once keys in one statement (a document per key cost more than the events themselves).
        session.QueueSqlCommand(RecordedMessages.Insert, recordedIds.ToArray(), recordedSessions.ToArray());
        await session.SaveChangesAsync(cancellationToken);
        return recordedIds.Count;
    }

    /// <summary>Whether an exception means another writer got there first (the batch is then read again and retried).</summary>
    public static bool IsRace(Exception ex) => ex is ConcurrencyException || IsUniqueViolation(ex)
        || ex.InnerException is ConcurrencyException || IsUniqueViolation(ex.InnerException);

    // Another writer recorded one of the batch's message ids first (the key's primary key refused it).
    private static bool IsUniqueViolation(Exception? ex) =>
        ex is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation, TableName: RecordedMessages.TableName };
}
