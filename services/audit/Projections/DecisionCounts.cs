using Portcullis.Contracts;

namespace Portcullis.Audit.Projections;

/// <summary>
/// The decisions a projection counts: the policy's (allowed, denied, sent to approval) and the approvers'
/// (granted, refused). Each document keeps its own stored names; this is the shape they share.
/// </summary>
public interface IDecisionCounts
{
    int Allowed { get; set; }
    int Denied { get; set; }
    int ApprovalRequired { get; set; }
    int ApprovalsGranted { get; set; }
    int ApprovalsRefused { get; set; }
}

public static class DecisionCounts
{
    /// <summary>Counts the event when it is a decision; anything else is left to the projection.</summary>
    public static void Count(this IDecisionCounts counts, object data)
    {
        switch (data)
        {
            case PolicyEvaluated { Decision: Decision.Allow }: counts.Allowed++; break;
            case PolicyEvaluated { Decision: Decision.Deny }: counts.Denied++; break;
            case PolicyEvaluated { Decision: Decision.RequireApproval }: counts.ApprovalRequired++; break;
            case ApprovalGranted: counts.ApprovalsGranted++; break;
            case ApprovalDenied: counts.ApprovalsRefused++; break;
        }
    }
}
