using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Approval.Saga;

/// <summary>
/// One approval, from the request to its decision and use; the document the saga persists in Marten
/// (schema "approval"). Its id is the approval id; <see cref="CurrentState"/> is one of <see cref="ApprovalStates"/>.
/// </summary>
public sealed class ApprovalState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }
    public string CurrentState { get; set; } = "";

    public Guid RequestId { get; set; }
    public string SessionId { get; set; } = "";
    public Principal Requester { get; set; } = new("", null, []);
    /// <summary>The requester's subject, apart so that grants can be found by it.</summary>
    public string RequesterSubject { get; set; } = "";
    public AgentAction Action { get; set; } = new("", "");
    /// <summary>The gateway's hash of exactly the action approved (statement and parameters, request and body, command).</summary>
    public string? ActionHash { get; set; }
    /// <summary>The start of an HTTP request's body, shown to approvers.</summary>
    public string? BodyPreview { get; set; }
    public string Connection { get; set; } = "";
    public string? RuleId { get; set; }
    public string Reason { get; set; } = "";
    public List<string> ApproverGroups { get; set; } = [];
    public DateTimeOffset RequestedAt { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }

    public string? DecidedBy { get; set; }
    public string? Comment { get; set; }
    public DateTimeOffset? DecidedAt { get; set; }
    /// <summary>Set when the approver granted a time window rather than this one request.</summary>
    public DateTimeOffset? GrantedUntil { get; set; }
    /// <summary>The request that ran under a single approval.</summary>
    public Guid? UsedBy { get; set; }

    public ApprovalStatus ToStatus() => new(CorrelationId, CurrentState, RequestId, SessionId, Requester, Action, RuleId,
        Reason, ApproverGroups, RequestedAt, ExpiresAt, DecidedBy, Comment, DecidedAt, GrantedUntil, UsedBy, ActionHash, BodyPreview);

    /// <summary>Why <paramref name="approver"/> may not decide this approval, or null when they may.</summary>
    public ApprovalRefused? RefusalFor(Principal approver)
    {
        if (string.Equals(approver.Subject, RequesterSubject, StringComparison.Ordinal))
            return new(CorrelationId, ApprovalRefusals.SelfApproval, "The requester of an action cannot approve or deny it.");
        if (!approver.Groups.Any(group => ApproverGroups.Contains(group, StringComparer.Ordinal)))
            return new(CorrelationId, ApprovalRefusals.NotApprover,
                $"Only members of {string.Join(", ", ApproverGroups)} can decide this approval.");
        return null;
    }

    /// <summary>
    /// Why <paramref name="caller"/> may not revoke this grant, or null when they may: the approver who granted it,
    /// members of its approver groups and admins may; the principal holding it may not (unless an admin), nor may
    /// anyone else.
    /// </summary>
    public ApprovalRefused? RevocationRefusalFor(Principal caller, string adminGroup)
    {
        if (caller.Groups.Contains(adminGroup, StringComparer.Ordinal)) return null;
        if (string.Equals(caller.Subject, RequesterSubject, StringComparison.Ordinal))
            return new(CorrelationId, ApprovalRefusals.NotApprover,
                "The holder of a grant cannot revoke it; an approver or an admin can.");
        if (string.Equals(caller.Subject, DecidedBy, StringComparison.Ordinal)
            || caller.Groups.Any(group => ApproverGroups.Contains(group, StringComparer.Ordinal)))
            return null;
        return new(CorrelationId, ApprovalRefusals.NotApprover,
            $"Only the approver who granted it, members of {string.Join(", ", ApproverGroups)} and admins can revoke this grant.");
    }

    /// <summary>
    /// Whether a claim is for what was approved: the same principal and, for a single approval, the very same action
    /// (its hash, computed by the gateway over connection, protocol, statement and parameters, request and body,
    /// command); for a window, the same connection and rule.
    /// </summary>
    public ApprovalRefused? MismatchFor(ClaimApproval claim, DateTimeOffset now)
    {
        if (!string.Equals(claim.Request.Requester.Subject, RequesterSubject, StringComparison.Ordinal))
            return new(CorrelationId, ApprovalRefusals.Mismatch, "This approval was given to another principal.");
        if (GrantedUntil is { } until)
        {
            if (until <= now)
                return new(CorrelationId, ApprovalRefusals.NotGranted, $"The grant ended at {until:O}; ask again.");
            if (claim.Request.Action.Connection != Connection || claim.Request.RuleId != RuleId)
                return new(CorrelationId, ApprovalRefusals.Mismatch,
                    "The grant covers another connection or rule than this request's.");
            return null;
        }
        return ActionMismatchFor(claim);
    }

    /// <summary>
    /// Whether a claim is for the very action approved. An approval without a hash (from before actions were bound)
    /// covers nothing: fail closed.
    /// </summary>
    public ApprovalRefused? ActionMismatchFor(ClaimApproval claim) =>
        ActionHash is not null && string.Equals(claim.Request.ActionHash, ActionHash, StringComparison.Ordinal)
        && claim.Request.Action.Connection == Connection && claim.Request.RuleId == RuleId
            ? null
            : new(CorrelationId, ApprovalRefusals.Mismatch,
                "The approval covers another action (its statement and parameters, request and body, or command differ): " +
                "re-send exactly the action that was approved, or ask for a new approval.");
}
