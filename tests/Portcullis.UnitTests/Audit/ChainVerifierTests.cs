using JasperFx.Events;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;

namespace Portcullis.UnitTests.Audit;

public class ChainVerifierTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 15, 0, 0, TimeSpan.Zero);
    private static readonly Principal Agent = new("agent-7", null, ["agents"]);
    private const string Session = "s-verify";

    private static RequestReceived Received(Guid request, long number, string sql = "SELECT 1") =>
        new(request, Session, Agent, new AgentAction(Protocols.Sql, "warehouse", Sql: sql), At, number);
    private static PolicyEvaluated Evaluated(Guid request) =>
        new(request, Session, Decision.Allow, null, "ok", [], [], "1", Agent, new AgentAction(Protocols.Sql, "warehouse", Sql: "SELECT 1"), At);
    private static RequestForwarded Forwarded(Guid request) => new(request, Session, "warehouse", "postgres", 200, 10, 1, At);
    private static RequestCompleted Completed(Guid request) => new(request, Session, Outcomes.Completed, 200, 1, null, At);

    private static IRequestMessage[] Request(long number, Guid? id = null)
    {
        var request = id ?? Guid.NewGuid();
        return [Received(request, number), Evaluated(request), Forwarded(request), Completed(request)];
    }

    /// <summary>The events as the recorder stores them: escaped where they must be, each linked into the chain.</summary>
    private static (List<IEvent> Events, SessionChain Head) Record(IEnumerable<IRequestMessage> messages)
    {
        var (events, previous) = (new List<IEvent>(), AuditChain.Genesis);
        foreach (var message in messages)
        {
            var id = Guid.NewGuid().ToString();
            var hash = AuditChain.Hash(previous, id, message.GetType().Name, message);
            var (stored, escaped) = StorableForm.Of(message);
            var e = (IEvent)Activator.CreateInstance(typeof(Event<>).MakeGenericType(stored.GetType()), stored)!;
            (e.Version, e.Sequence) = (events.Count + 1, 1000 + events.Count);
            e.SetHeader(AuditChain.MessageIdHeader, id);
            e.SetHeader(AuditChain.PreviousHashHeader, previous);
            e.SetHeader(AuditChain.HashHeader, hash);
            if (escaped) e.SetHeader(AuditChain.EscapedHeader, "true");
            events.Add(e);
            previous = hash;
        }
        return (events, new SessionChain { Id = Session, LastHash = previous, Events = events.Count });
    }

    [Fact]
    public void A_whole_session_with_a_nul_in_it_is_valid()
    {
        var request = Guid.NewGuid();
        var (events, head) = Record([.. Request(1), Received(request, 2, "SELECT 'a\0b'"), Evaluated(request), Completed(request), .. Request(3)]);
        var result = ChainVerifier.Verify(Session, events, head);
        Assert.True(result.Valid, string.Join("; ", result.Findings.Select(f => f.Message)));
        Assert.True(result.ChainIntact);
        Assert.Equal(3, result.Requests);
        Assert.Empty(result.Findings);
    }

    [Fact]
    public void A_deleted_event_in_the_middle_is_found_at_its_position()
    {
        var (events, head) = Record([.. Request(1), .. Request(2)]);
        events.RemoveAt(5); // version 6: the second request's PolicyEvaluated
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.False(result.Valid);
        Assert.False(result.ChainIntact);
        var finding = Assert.Single(result.Findings, f => f.Kind == FindingKinds.Deleted);
        Assert.Equal(7, finding.Version);
        Assert.Contains("version 6", finding.Message);
        Assert.Equal(7, result.FirstInvalid!.Version);
    }

    [Fact]
    public void Deleted_events_at_the_end_are_found_from_the_chains_head()
    {
        var (events, head) = Record([.. Request(1), .. Request(2)]);
        events.RemoveRange(6, 2);
        var result = ChainVerifier.Verify(Session, events, head);
        var finding = Assert.Single(result.Findings);
        Assert.Equal(FindingKinds.Deleted, finding.Kind);
        Assert.Contains("versions 7 to 8", finding.Message);
    }

    [Fact]
    public void A_deleted_event_with_the_versions_renumbered_breaks_the_link()
    {
        var (events, head) = Record([.. Request(1), .. Request(2)]);
        events.RemoveAt(2);
        for (var i = 2; i < events.Count; i++) events[i].Version = i + 1;
        head.Events = events.Count; // the chain's head rewritten too
        head.LastHash = events[^1].Headers![AuditChain.HashHeader]!.ToString()!;
        var result = ChainVerifier.Verify(Session, events, head);
        Assert.Contains(result.Findings, f => f.Kind == FindingKinds.Relinked && f.Version == 3);
        Assert.False(result.ChainIntact);
    }

    [Fact]
    public void A_changed_event_is_one_finding_not_every_event_after_it()
    {
        var (events, head) = Record([.. Request(1), .. Request(2)]);
        var changed = (IEvent)new Event<RequestForwarded>(Forwarded(((RequestForwarded)events[2].Data).RequestId) with { StatusCode = 500 })
        {
            Version = events[2].Version, Sequence = events[2].Sequence, Headers = events[2].Headers,
        };
        events[2] = changed;
        var result = ChainVerifier.Verify(Session, events, head);
        var finding = Assert.Single(result.Findings);
        Assert.Equal((FindingKinds.Altered, 3L), (finding.Kind, finding.Version));
    }

    [Fact]
    public void A_missing_request_number_is_reported_and_zero_is_not_a_gap()
    {
        var (events, head) = Record([.. Request(0), .. Request(1), .. Request(2), .. Request(4), .. Request(0), .. Request(7)]);
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.False(result.Valid);
        Assert.True(result.ChainIntact);
        Assert.Equal(["request 3 missing", "requests 5 to 6 missing"],
            result.Findings.Select(f => f.Message.Split(':')[0]));
        Assert.All(result.Findings, f => Assert.Equal(FindingKinds.MissingRequest, f.Kind));
    }

    [Fact]
    public void Steps_that_cannot_happen_are_reported()
    {
        var twiceDecided = Guid.NewGuid();
        var orphan = Guid.NewGuid();
        var undecided = Guid.NewGuid();
        var (events, head) = Record([
            Received(twiceDecided, 1), Evaluated(twiceDecided), Evaluated(twiceDecided), Forwarded(twiceDecided), Completed(twiceDecided),
            Forwarded(orphan), Completed(orphan),
            Received(undecided, 2), Forwarded(undecided),
        ]);
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.True(result.ChainIntact);
        Assert.Contains(result.Findings, f => f.Kind == FindingKinds.RepeatedStep && f.RequestId == twiceDecided && f.Type == "PolicyEvaluated");
        Assert.Contains(result.Findings, f => f.Kind == FindingKinds.IncompleteRequest && f.RequestId == orphan && f.Type == "RequestForwarded");
        Assert.Contains(result.Findings, f => f.Kind == FindingKinds.IncompleteRequest && f.RequestId == orphan && f.Type == "RequestCompleted");
        Assert.Contains(result.Findings, f => f.Kind == FindingKinds.IncompleteRequest && f.RequestId == undecided
            && f.Message.Contains("no PolicyEvaluated"));
        Assert.Equal(4, result.Findings.Count);
    }

    [Fact]
    public void A_request_refused_as_unavailable_before_its_request_was_confirmed_is_not_a_finding()
    {
        var refused = Guid.NewGuid();
        var lost = Guid.NewGuid();
        var (events, head) = Record([
            new RequestCompleted(refused, Session, Outcomes.Unavailable, 503, 2000, null, At), // the gateway could not publish it in time
            new RequestCompleted(lost, Session, Outcomes.Completed, 200, 5, null, At),
        ]);
        var finding = Assert.Single(ChainVerifier.Verify(Session, events, head).Findings);
        Assert.Equal((FindingKinds.IncompleteRequest, lost), (finding.Kind, finding.RequestId));
    }

    [Fact]
    public void A_request_still_in_flight_is_not_a_finding() =>
        Assert.True(ChainVerifier.Verify(Session, Record([Received(Guid.NewGuid(), 1)]).Events, null).Valid);

    [Fact]
    public void A_quarantined_event_is_reported_and_explains_its_requests_missing_step()
    {
        var request = Guid.NewGuid();
        var (events, head) = Record([
            new EventQuarantined(request, Session, "m-1", "RequestReceived", "PostgreSQL refused it: 22P05", "ab12", At),
            Evaluated(request), Completed(request), .. Request(2),
        ]);
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.False(result.Valid);
        Assert.True(result.ChainIntact);
        Assert.Equal(1, result.Quarantined);
        var finding = Assert.Single(result.Findings, f => f.Kind != FindingKinds.MissingRequest);
        Assert.Equal(FindingKinds.Quarantined, finding.Kind);
        Assert.Contains("22P05", finding.Message);
        Assert.Contains(result.Findings, f => f.Message.StartsWith("request 1 missing", StringComparison.Ordinal));
    }

    private static RequestSequenceVoided Voided(Guid request, long number) =>
        new(request, Session, number, "refused with 503: no policy decision (OperationCanceledException)", At);
    private static RequestCompleted Refused(Guid request) => new(request, Session, Outcomes.Unavailable, 503, 2000, null, At);

    [Fact]
    public void A_number_voided_for_a_request_the_broker_never_took_is_accounted_for()
    {
        var refused = Guid.NewGuid();
        var (events, head) = Record([.. Request(1), Refused(refused), .. Request(3), Voided(refused, 2), .. Request(4)]);
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.True(result.Valid, string.Join("; ", result.Findings.Select(f => f.Message)));
        Assert.Equal(3, result.Requests);
    }

    [Fact]
    public void A_void_of_another_number_does_not_cover_a_gap()
    {
        var refused = Guid.NewGuid();
        var (events, head) = Record([.. Request(1), .. Request(3), Voided(refused, 4), .. Request(5)]);
        var finding = Assert.Single(ChainVerifier.Verify(Session, events, head).Findings);

        Assert.Equal(FindingKinds.MissingRequest, finding.Kind);
        Assert.StartsWith("request 2 missing: no RequestReceived or RequestSequenceVoided", finding.Message);
    }

    [Fact]
    public void A_void_beside_the_same_requests_unconfirmed_RequestReceived_is_one_request_in_either_order()
    {
        var first = Guid.NewGuid();
        var second = Guid.NewGuid();
        var (events, head) = Record([
            .. Request(1),
            Received(first, 2), Refused(first), Voided(first, 2), // the broker kept the send it did not confirm
            Voided(second, 3), Received(second, 3), Refused(second), // and delivered it after the relayed void
            .. Request(4),
        ]);
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.True(result.Valid, string.Join("; ", result.Findings.Select(f => f.Message)));
        Assert.Equal(4, result.Requests);
    }

    [Fact]
    public void A_voided_request_that_was_executed_is_a_finding()
    {
        var ran = Guid.NewGuid();
        var (events, head) = Record([.. Request(1), Received(ran, 2), Evaluated(ran), Voided(ran, 2), Forwarded(ran), Completed(ran)]);
        var finding = Assert.Single(ChainVerifier.Verify(Session, events, head).Findings);

        Assert.Equal((FindingKinds.VoidedButExecuted, ran, "RequestForwarded"), (finding.Kind, finding.RequestId, finding.Type));
    }

    [Fact]
    public void A_number_voided_for_one_request_and_received_for_another_is_a_repeat()
    {
        var voided = Guid.NewGuid();
        var (events, head) = Record([.. Request(1), Voided(voided, 2), .. Request(2)]);
        var finding = Assert.Single(ChainVerifier.Verify(Session, events, head).Findings);

        Assert.Equal(FindingKinds.RepeatedStep, finding.Kind);
        Assert.Equal("request sequence number 2 is recorded for more than one request", finding.Message);
    }

    [Fact]
    public void The_same_request_received_twice_under_one_number_is_still_a_repeat()
    {
        var twice = Guid.NewGuid();
        var (events, head) = Record([.. Request(1), Received(twice, 2), Received(twice, 2), Evaluated(twice), Completed(twice)]);
        var result = ChainVerifier.Verify(Session, events, head);

        Assert.Contains(result.Findings, f => f.Message == "request sequence number 2 is recorded for more than one request");
        Assert.Contains(result.Findings, f => f.Kind == FindingKinds.RepeatedStep && f.Type == "RequestReceived" && f.RequestId == twice);
    }
}
