using Marten;

namespace Portcullis.Audit.Recording;

/// <summary>Recomputes a session's hash chain from what is stored and names the first event that does not match.</summary>
public sealed class ChainVerifier(IQuerySession session)
{
    public async Task<VerifyResult?> VerifyAsync(string sessionId, CancellationToken cancellationToken)
    {
        var events = await session.Events.FetchStreamAsync(sessionId, token: cancellationToken);
        if (events.Count == 0) return null;
        var previous = AuditChain.Genesis;
        foreach (var e in events)
        {
            string? Header(string name) => e.Headers?.TryGetValue(name, out var value) == true ? value?.ToString() : null;
            var stored = Header(AuditChain.HashHeader);
            var recomputed = AuditChain.Hash(previous, Header(AuditChain.MessageIdHeader) ?? "", e.EventType.Name, e.Data);
            if (Header(AuditChain.PreviousHashHeader) != previous || stored != recomputed)
                return new VerifyResult(sessionId, events.Count, false,
                    new InvalidEvent(e.Version, e.Sequence, e.EventType.Name,
                        Header(AuditChain.PreviousHashHeader) != previous ? "its link to the event before does not match" : "its content does not match its hash"));
            previous = stored;
        }
        return new VerifyResult(sessionId, events.Count, true, null);
    }
}

public sealed record VerifyResult(string SessionId, int Events, bool Valid, InvalidEvent? FirstInvalid);

public sealed record InvalidEvent(long Version, long Sequence, string Type, string Reason);
