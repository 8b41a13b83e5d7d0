using JasperFx.Events;
using Marten.Events.Aggregation;
using Portcullis.Contracts;

namespace Portcullis.Audit.Projections;

/// <summary>
/// One document per session: who acted, what each request did and how it ended, and what a search by
/// identity, connection, outcome or time needs. Lifecycle: asynchronous (Marten's projection daemon, one node
/// at a time), so recording an event never rewrites a long session's document: the daemon applies events in
/// batches and trails the streams by a moment. Inline was tried first and made a 10,000-event session
/// quadratic to record. Rebuilt from the streams by the rebuild command.
/// </summary>
public sealed class SessionTimeline
{
    public string Id { get; set; } = "";
    public string? Subject { get; set; }
    public List<string> Groups { get; set; } = [];
    public DateTimeOffset? FirstAt { get; set; }
    public DateTimeOffset? LastAt { get; set; }
    public long Events { get; set; }
    public List<string> Connections { get; set; } = [];
    public List<string> Outcomes { get; set; } = [];
    public int Denied { get; set; }
    public int Approvals { get; set; }
    public int MaskedValues { get; set; }
    /// <summary>Events the audit could not store and set aside (each an <see cref="EventQuarantined"/> in the stream).</summary>
    public int Quarantined { get; set; }
    public List<TimelineStep> Steps { get; set; } = [];

    // The steps by request, built once per loaded document: a linear search per event made applying a
    // long session's events quadratic (replaying 20,000 events took three times as long as 10,000).
    private Dictionary<Guid, TimelineStep>? _steps;

    public TimelineStep Step(Guid requestId)
    {
        _steps ??= Steps.ToDictionary(s => s.RequestId);
        if (!_steps.TryGetValue(requestId, out var step))
        {
            Steps.Add(step = new TimelineStep { RequestId = requestId });
            _steps[requestId] = step;
        }
        return step;
    }
}

/// <summary>One request of a session, as it went.</summary>
public sealed class TimelineStep
{
    public Guid RequestId { get; set; }
    public DateTimeOffset? At { get; set; }
    public string? Connection { get; set; }
    public string? Protocol { get; set; }
    public string? Action { get; set; }
    public string? Decision { get; set; }
    public string? Rule { get; set; }
    public string? PolicyVersion { get; set; }
    public List<string> Approval { get; set; } = [];
    public bool Executed { get; set; }
    public Dictionary<string, int> Masked { get; set; } = [];
    public string? Outcome { get; set; }
    public int? Status { get; set; }
    /// <summary>
    /// The session sequence number the gateway voided for this request, and why: it was refused before its
    /// RequestReceived was confirmed (nothing ran). Null for a request not refused that way.
    /// </summary>
    public string? Voided { get; set; }
    /// <summary>The request's events the audit set aside, with why.</summary>
    public List<string> Quarantined { get; set; } = [];
}

public sealed class SessionTimelineProjection : SingleStreamProjection<SessionTimeline, string>
{
    public override SessionTimeline Evolve(SessionTimeline? snapshot, string id, IEvent e)
    {
        var timeline = snapshot ?? new SessionTimeline { Id = id };
        timeline.Events++;
        timeline.LastAt = Stored(e.Timestamp);
        timeline.FirstAt ??= Stored(e.Timestamp);
        if (e.Data is not IRequestMessage message) return timeline;
        var step = timeline.Step(message.RequestId);
        step.At ??= Stored(e.Timestamp);
        switch (message)
        {
            case RequestReceived received:
                timeline.Subject ??= received.Principal.Subject;
                if (timeline.Groups.Count == 0) timeline.Groups = [.. received.Principal.Groups];
                Add(timeline.Connections, received.Action.Connection);
                (step.Connection, step.Protocol, step.Action) = (received.Action.Connection, received.Action.Protocol, Describe(received.Action));
                break;
            case PolicyEvaluated evaluated:
                (step.Decision, step.Rule, step.PolicyVersion) = (evaluated.Decision.ToString(), evaluated.RuleId, evaluated.PolicyVersion);
                if (evaluated.Decision == Decision.Deny) timeline.Denied++;
                break;
            case ApprovalRequested requested:
                step.Approval.Add($"requested from {string.Join(", ", requested.ApproverGroups)}");
                timeline.Approvals++;
                break;
            case ApprovalGranted granted:
                step.Approval.Add($"granted by {granted.Approver}{(granted.Comment is null ? "" : $": {granted.Comment}")}");
                break;
            case ApprovalDenied denied:
                step.Approval.Add($"denied by {denied.Approver}{(denied.Comment is null ? "" : $": {denied.Comment}")}");
                break;
            case ApprovalExpired:
                step.Approval.Add("expired");
                break;
            case ApprovalClaimed claimed:
                step.Approval.Add($"ran under approval {claimed.ApprovalId} granted by {claimed.GrantedBy}");
                break;
            case GrantRevoked revoked:
                step.Approval.Add($"grant revoked by {revoked.RevokedBy}");
                break;
            case RequestForwarded:
                step.Executed = true;
                break;
            case ResponseMasked masked:
                foreach (var (entity, count) in masked.CountsByEntity)
                {
                    step.Masked[entity] = step.Masked.GetValueOrDefault(entity) + count;
                    timeline.MaskedValues += count;
                }
                break;
            case RequestCompleted completed:
                (step.Outcome, step.Status) = (completed.Outcome, completed.StatusCode);
                Add(timeline.Outcomes, completed.Outcome);
                break;
            case RequestSequenceVoided voided:
                step.Voided = $"sequence number {voided.SessionSequence} voided: {voided.Reason}";
                if (step.Outcome is null)
                {
                    // Refused before it was recorded; a RequestCompleted that arrives as well says the same.
                    (step.Outcome, step.Status) = (Portcullis.Contracts.Outcomes.Unavailable, 503);
                    Add(timeline.Outcomes, Portcullis.Contracts.Outcomes.Unavailable);
                }
                break;
            case EventQuarantined quarantined:
                step.Quarantined.Add($"{quarantined.EventType} set aside: {quarantined.Reason}");
                timeline.Quarantined++;
                break;
            case PolicyPublished published:
                timeline.Subject ??= published.PublishedBy;
                (step.Protocol, step.Action, step.Outcome) = ("admin", $"published policy v{published.Version}", "published");
                Add(timeline.Outcomes, "published");
                break;
        }
        return timeline;
    }

    private static void Add(List<string> list, string value)
    {
        if (!list.Contains(value)) list.Add(value);
    }

    public static string McpText(AgentAction action) => action switch
    {
        { Resource: { } uri } => $"MCP resource {uri}",
        { Prompt: { } prompt } => $"MCP prompt {prompt} {action.Arguments}",
        _ => $"MCP tool {action.Tool} {action.Arguments}",
    };

    public static string Describe(AgentAction action) => action.Protocol switch
    {
        Protocols.Sql => $"SQL {action.Sql}",
        Protocols.Exec => $"command {action.Command}",
        Protocols.Mcp => McpText(action),
        _ => $"{action.Method} {action.Path}{action.Query}",
    };

    /// <summary>An event's time as PostgreSQL keeps it (microseconds), so a document is the same whether it was
    /// projected as the event was appended or rebuilt from the store.</summary>
    public static DateTimeOffset Stored(DateTimeOffset at) => new(at.Ticks - at.Ticks % 10, at.Offset);
}
