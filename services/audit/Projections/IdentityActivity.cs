using JasperFx.Events;
using Marten.Events.Projections;
using Portcullis.Contracts;

namespace Portcullis.Audit.Projections;

/// <summary>
/// What one identity did across sessions: requests, decisions, approvals asked for and given. Lifecycle:
/// asynchronous (Marten's projection daemon, one node at a time), so recording never waits for it; it can
/// trail the streams by a moment, and is rebuilt from them by the rebuild command.
/// </summary>
public sealed class IdentityActivity : IDecisionCounts
{
    public string Id { get; set; } = ""; // the subject
    public DateTimeOffset? FirstSeen { get; set; }
    public DateTimeOffset? LastSeen { get; set; }
    public int Requests { get; set; }
    public List<string> Sessions { get; set; } = [];
    public Dictionary<string, int> Connections { get; set; } = [];
    public int Allowed { get; set; }
    public int Denied { get; set; }
    public int ApprovalRequired { get; set; }
    public int ApprovalsGiven { get; set; }
    public int ApprovalsRefused { get; set; }
    public int PolicyChanges { get; set; }

    int IDecisionCounts.ApprovalsGranted { get => ApprovalsGiven; set => ApprovalsGiven = value; }
}

public sealed class IdentityActivityProjection : MultiStreamProjection<IdentityActivity, string>
{
    public IdentityActivityProjection()
    {
        Identity<RequestReceived>(e => e.Principal.Subject);
        Identity<PolicyEvaluated>(e => e.Principal.Subject);
        Identity<ApprovalGranted>(e => e.Approver);
        Identity<ApprovalDenied>(e => e.Approver);
        Identity<PolicyPublished>(e => e.PublishedBy);
    }

    public override IdentityActivity Evolve(IdentityActivity? snapshot, string id, IEvent e)
    {
        var activity = snapshot ?? new IdentityActivity { Id = id };
        activity.FirstSeen ??= SessionTimelineProjection.Stored(e.Timestamp);
        activity.LastSeen = SessionTimelineProjection.Stored(e.Timestamp);
        switch (e.Data)
        {
            case RequestReceived received:
                activity.Requests++;
                // A session's requests come together: its id is almost always the last one, so look there first.
                if ((activity.Sessions.Count == 0 || activity.Sessions[^1] != received.SessionId) && !activity.Sessions.Contains(received.SessionId))
                    activity.Sessions.Add(received.SessionId);
                activity.Connections[received.Action.Connection] = activity.Connections.GetValueOrDefault(received.Action.Connection) + 1;
                break;
            case PolicyPublished: activity.PolicyChanges++; break;
            default: activity.Count(e.Data); break;
        }
        return activity;
    }
}
