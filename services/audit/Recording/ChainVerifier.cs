using JasperFx.Events;
using Marten;
using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

/// <summary>
/// Checks a session's record for change and for loss. Change: the hash chain recomputed from what is stored
/// (an altered event, an event removed, inserted or reordered, events missing at the end). Loss: the gateway's
/// request numbers (a request missing between two others), requests whose steps cannot have happened as stored
/// (a completion or execution without its request, an execution without a decision, a step recorded twice), and
/// events the audit set aside (<see cref="EventQuarantined"/>). Every finding names where it is.
/// </summary>
public sealed class ChainVerifier(IQuerySession session)
{
    /// <summary>Most findings listed; the rest are counted in <see cref="VerifyResult.FindingsOmitted"/>.</summary>
    public const int MaxFindings = 200;

    public async Task<VerifyResult?> VerifyAsync(string sessionId, CancellationToken cancellationToken)
    {
        // The head before the events: an event appended in between then only makes the stream longer than the head.
        var head = await session.LoadAsync<SessionChain>(sessionId, cancellationToken);
        var events = await session.Events.FetchStreamAsync(sessionId, token: cancellationToken);
        return events.Count == 0 ? null : Verify(sessionId, events, head);
    }

    public static VerifyResult Verify(string sessionId, IReadOnlyList<IEvent> events, SessionChain? head)
    {
        var findings = new List<VerifyFinding>();
        var firstInvalid = CheckChain(events, head, findings);
        var chainIntact = findings.Count == 0;
        var messages = events.Where(e => e.Data is IRequestMessage)
            .Select(e => (e.Version, e.Sequence, Message: (IRequestMessage)e.Data)).ToList();
        var quarantined = CheckQuarantined(messages, findings);
        CheckSequence(messages, findings);
        CheckSteps(messages, quarantined, findings);
        var requests = messages.Count(m => m.Message is RequestReceived);
        return new VerifyResult(sessionId, events.Count, findings.Count == 0, firstInvalid, chainIntact, requests,
            quarantined.Count, [.. findings.Take(MaxFindings)], Math.Max(0, findings.Count - MaxFindings));
    }

    private static string? Header(IEvent e, string name) => e.Headers?.TryGetValue(name, out var value) == true ? value?.ToString() : null;

    /// <summary>Recomputes the chain; carries on from each stored hash, so one changed event is one finding, not all after it.</summary>
    private static InvalidEvent? CheckChain(IReadOnlyList<IEvent> events, SessionChain? head, List<VerifyFinding> findings)
    {
        InvalidEvent? first = null;
        var previous = AuditChain.Genesis;
        var (expectedVersion, previousSequence) = (1L, 0L);
        foreach (var e in events)
        {
            var type = e.EventType.Name;
            var gap = e.Version > expectedVersion;
            if (gap)
            {
                var missing = e.Version - expectedVersion;
                var reason = missing == 1 ? $"the event at version {expectedVersion} before it is missing (deleted)"
                    : $"the {missing} events at versions {expectedVersion} to {e.Version - 1} before it are missing (deleted)";
                findings.Add(new VerifyFinding(FindingKinds.Deleted, reason, e.Version, e.Sequence, null, type));
                first ??= new InvalidEvent(e.Version, e.Sequence, type, reason);
            }
            if (Header(e, AuditChain.PreviousHashHeader) != previous && !gap)
            {
                const string reason = "its link to the event before does not match (an event before it was removed, inserted or reordered)";
                findings.Add(new VerifyFinding(FindingKinds.Relinked, reason, e.Version, e.Sequence, null, type));
                first ??= new InvalidEvent(e.Version, e.Sequence, type, "its link to the event before does not match");
            }
            var stored = Header(e, AuditChain.HashHeader);
            string? recomputed;
            try
            {
                recomputed = AuditChain.Hash(Header(e, AuditChain.PreviousHashHeader) ?? "", Header(e, AuditChain.MessageIdHeader) ?? "",
                    type, e.Data, escaped: Header(e, AuditChain.EscapedHeader) == "true");
            }
            catch (FormatException)
            {
                recomputed = null; // an escaped string that is not a valid escape: changed after it was stored
            }
            if (stored is null || stored != recomputed)
            {
                const string reason = "its content does not match its hash";
                findings.Add(new VerifyFinding(FindingKinds.Altered, reason, e.Version, e.Sequence, null, type));
                first ??= new InvalidEvent(e.Version, e.Sequence, type, reason);
            }
            previous = stored ?? "";
            (expectedVersion, previousSequence) = (e.Version + 1, e.Sequence);
        }
        if (head is not null && head.Events >= expectedVersion)
        {
            var reason = head.Events == expectedVersion
                ? $"the last event (version {head.Events}) is missing (deleted): the chain's head records {head.Events} events"
                : $"the last {head.Events - expectedVersion + 1} events (versions {expectedVersion} to {head.Events}) are missing (deleted): the chain's head records {head.Events} events";
            findings.Add(new VerifyFinding(FindingKinds.Deleted, reason, expectedVersion, previousSequence, null, null));
        }
        else if (head is not null && events.FirstOrDefault(e => e.Version == head.Events) is { } last
                 && Header(last, AuditChain.HashHeader) != head.LastHash)
            findings.Add(new VerifyFinding(FindingKinds.Relinked,
                $"the chain's head does not match the event at version {head.Events} (the end of the chain was replaced)",
                last.Version, last.Sequence, null, last.EventType.Name));
        return first;
    }

    /// <summary>Every event set aside is reported: the record is not whole, and says so.</summary>
    private static HashSet<Guid> CheckQuarantined(List<(long Version, long Sequence, IRequestMessage Message)> messages,
        List<VerifyFinding> findings)
    {
        var requests = new HashSet<Guid>();
        foreach (var (version, sequence, message) in messages)
        {
            if (message is not EventQuarantined quarantined) continue;
            requests.Add(quarantined.RequestId);
            findings.Add(new VerifyFinding(FindingKinds.Quarantined,
                $"a {quarantined.EventType} of request {quarantined.RequestId} was set aside (body SHA-256 {quarantined.BodySha256}): {quarantined.Reason}",
                version, sequence, quarantined.RequestId, nameof(EventQuarantined)));
        }
        return requests;
    }

    /// <summary>
    /// The gateway numbers a session's requests 1, 2, 3...: a number is accounted for by a RequestReceived or by a
    /// RequestSequenceVoided (spent on a request refused before its RequestReceived was confirmed); one carried by
    /// neither is a request lost; 0 is not numbered. A void and a RequestReceived of the same request (the broker kept
    /// the unconfirmed send) are one request, not a repeat.
    /// </summary>
    private static void CheckSequence(List<(long Version, long Sequence, IRequestMessage Message)> messages, List<VerifyFinding> findings)
    {
        var numbered = messages
            .Select(m => (Number: m.Message switch
            {
                RequestReceived received => received.SessionSequence,
                RequestSequenceVoided voided => voided.SessionSequence,
                _ => 0,
            }, m.Message, m.Version, m.Sequence))
            .Where(m => m.Number > 0)
            .OrderBy(m => m.Number).ThenBy(m => m.Version).ToList();
        var expected = 1L;
        (long Number, Guid RequestId, bool Received) last = (0, Guid.Empty, false);
        foreach (var request in numbered)
        {
            var type = request.Message.GetType().Name;
            var received = request.Message is RequestReceived;
            if (request.Number > expected)
            {
                var reason = request.Number == expected + 1 ? $"request {expected} missing"
                    : $"requests {expected} to {request.Number - 1} missing";
                findings.Add(new VerifyFinding(FindingKinds.MissingRequest,
                    $"{reason}: no RequestReceived or RequestSequenceVoided is recorded with that session sequence number (the next recorded is {request.Number})",
                    request.Version, request.Sequence, request.Message.RequestId, type));
            }
            else if (request.Number < expected)
            {
                // The same number again: the same request's void beside its RequestReceived is expected; anything else is not.
                var sameRequest = last.Number == request.Number && last.RequestId == request.Message.RequestId && !(received && last.Received);
                if (!sameRequest)
                    findings.Add(new VerifyFinding(FindingKinds.RepeatedStep,
                        $"request sequence number {request.Number} is recorded for more than one request",
                        request.Version, request.Sequence, request.Message.RequestId, type));
            }
            last = last.Number == request.Number && last.RequestId == request.Message.RequestId
                ? (last.Number, last.RequestId, last.Received || received)
                : (request.Number, request.Message.RequestId, received);
            expected = Math.Max(expected, request.Number + 1);
        }
    }

    /// <summary>Steps that cannot have happened as recorded: the gateway publishes a request before it is decided or run.</summary>
    private static void CheckSteps(List<(long Version, long Sequence, IRequestMessage Message)> messages, HashSet<Guid> quarantined,
        List<VerifyFinding> findings)
    {
        var seen = new Dictionary<Guid, HashSet<Type>>();
        foreach (var (version, sequence, message) in messages)
        {
            if (message is not (RequestReceived or PolicyEvaluated or RequestForwarded or RequestCompleted or RequestSequenceVoided)) continue;
            if (!seen.TryGetValue(message.RequestId, out var steps)) seen[message.RequestId] = steps = [];
            var type = message.GetType();
            if (quarantined.Contains(message.RequestId)) { steps.Add(type); continue; } // its quarantine finding explains it
            if (!steps.Add(type))
                findings.Add(new VerifyFinding(FindingKinds.RepeatedStep, $"request {message.RequestId} has a second {type.Name}",
                    version, sequence, message.RequestId, type.Name));
            else if (message is RequestSequenceVoided or RequestForwarded
                     && steps.Contains(typeof(RequestSequenceVoided)) && steps.Contains(typeof(RequestForwarded)))
                // The gateway voids a number only for a request it refused before anything ran.
                findings.Add(new VerifyFinding(FindingKinds.VoidedButExecuted,
                    $"request {message.RequestId} was voided (refused before it was recorded) yet executed (RequestForwarded)",
                    version, sequence, message.RequestId, type.Name));
            else if (message is RequestSequenceVoided)
                continue; // accounts for its number; needs no RequestReceived (the broker may never have taken it)
            else if (message is RequestCompleted { Outcome: Outcomes.Unavailable } && !steps.Contains(typeof(RequestForwarded)))
                continue; // refused with 503 because RequestReceived could not be confirmed in time: nothing ran, nothing lost
            else if (message is not RequestReceived && !steps.Contains(typeof(RequestReceived)))
                findings.Add(new VerifyFinding(FindingKinds.IncompleteRequest,
                    $"request {message.RequestId} has a {type.Name} but no RequestReceived before it", version, sequence, message.RequestId, type.Name));
            else if (message is RequestForwarded && !steps.Contains(typeof(PolicyEvaluated)))
                findings.Add(new VerifyFinding(FindingKinds.IncompleteRequest,
                    $"request {message.RequestId} was executed (RequestForwarded) with no PolicyEvaluated before it", version, sequence,
                    message.RequestId, type.Name));
        }
    }
}

/// <summary>What <see cref="ChainVerifier"/> can find.</summary>
public static class FindingKinds
{
    /// <summary>A stored event's content does not match its hash.</summary>
    public const string Altered = "altered";
    /// <summary>Events are missing from the stream (a gap in its versions, or fewer than its chain head records).</summary>
    public const string Deleted = "deleted";
    /// <summary>An event's link to the one before does not match: something before it was removed, inserted or reordered.</summary>
    public const string Relinked = "relinked";
    /// <summary>A request number of the session has no RequestReceived.</summary>
    public const string MissingRequest = "missing-request";
    /// <summary>A step of a request without the step that must come before it.</summary>
    public const string IncompleteRequest = "incomplete-request";
    /// <summary>A step that happens once per request recorded twice, or one request number used twice.</summary>
    public const string RepeatedStep = "repeated-step";
    /// <summary>A request whose sequence number the gateway voided (refused, nothing ran) has a RequestForwarded.</summary>
    public const string VoidedButExecuted = "voided-executed";
    /// <summary>An event the audit could not store and set aside.</summary>
    public const string Quarantined = "quarantined";
}

/// <summary>
/// A session's verification. <see cref="Valid"/>: no finding at all. <see cref="ChainIntact"/>: the hash chain holds
/// (nothing stored was changed or removed), whatever the findings about loss. <see cref="FirstInvalid"/>: the first
/// event where the chain breaks.
/// </summary>
public sealed record VerifyResult(string SessionId, int Events, bool Valid, InvalidEvent? FirstInvalid, bool ChainIntact, int Requests,
    int Quarantined, IReadOnlyList<VerifyFinding> Findings, int FindingsOmitted);

public sealed record InvalidEvent(long Version, long Sequence, string Type, string Reason);

/// <summary>One thing wrong with a session's record: its kind (<see cref="FindingKinds"/>), what, and where (stream version, store sequence, request).</summary>
public sealed record VerifyFinding(string Kind, string Message, long? Version, long? Sequence, Guid? RequestId, string? Type);
