namespace Portcullis.Contracts;

/// <summary>
/// The gateway asks for a human decision on a request a rule sent to approval. The gateway names the approval
/// id, so it can listen for the decision before asking. Answered with <see cref="ApprovalStatus"/>: granted at
/// once when an open time-window grant covers the request, otherwise pending. <see cref="ActionHash"/> is the
/// gateway's hash of the whole action (connection, protocol, statement and parameters, method, path, query and
/// body, command): a single approval covers that action and no other. <see cref="BodyPreview"/> shows approvers
/// the start of an HTTP request's body.
/// </summary>
public sealed record RequestApproval(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    Principal Requester,
    AgentAction Action,
    string? RuleId,
    string Reason,
    IReadOnlyList<string> ApproverGroups,
    string? ActionHash = null,
    string? BodyPreview = null) : IRequestMessage;

/// <summary>
/// The gateway is about to run <see cref="RequestId"/> under a granted approval. A single approval is used
/// once: the first claim wins, later ones are refused, and only for the action whose <see cref="ActionHash"/> was
/// approved. Answered with <see cref="ApprovalStatus"/> or <see cref="ApprovalRefused"/>.
/// </summary>
public sealed record ClaimApproval(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    Principal Requester,
    AgentAction Action,
    string? RuleId,
    string? ActionHash = null);

/// <summary>An approver allows the request; with <see cref="Window"/>, for that long for the same principal, connection and rule.</summary>
public sealed record ApproveApproval(Guid ApprovalId, Principal Approver, string? Comment, TimeSpan? Window);

public sealed record DenyApproval(Guid ApprovalId, Principal Approver, string? Comment);

/// <summary>
/// An approver (or admin) ends a time-window grant before its time: only the approver who granted it, members of
/// its approver groups, and admins may.
/// </summary>
public sealed record RevokeGrant(Guid ApprovalId, Principal RevokedBy, string? Comment);

/// <summary>Sent by the approval service's expiry sweep for a pending approval past its deadline.</summary>
public sealed record ExpireApproval(Guid ApprovalId);

/// <summary>Where an approval stands; <see cref="ApprovalStates"/> names the states.</summary>
public sealed record ApprovalStatus(
    Guid ApprovalId,
    string State,
    Guid RequestId,
    string SessionId,
    Principal Requester,
    AgentAction Action,
    string? RuleId,
    string Reason,
    IReadOnlyList<string> ApproverGroups,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt,
    string? DecidedBy = null,
    string? Comment = null,
    DateTimeOffset? DecidedAt = null,
    DateTimeOffset? GrantedUntil = null,
    Guid? UsedBy = null,
    string? ActionHash = null,
    string? BodyPreview = null);

/// <summary>A command on an approval was refused; <see cref="Code"/> is one of <see cref="ApprovalRefusals"/>.</summary>
public sealed record ApprovalRefused(Guid ApprovalId, string Code, string Detail);

public static class ApprovalStates
{
    public const string Pending = "Pending";
    public const string Granted = "Granted";
    public const string Denied = "Denied";
    public const string Expired = "Expired";
    public const string Used = "Used";
    public const string Revoked = "Revoked";
}

public static class ApprovalRefusals
{
    public const string NotFound = "not_found";
    public const string NotApprover = "not_approver";
    public const string SelfApproval = "self_approval";
    public const string AlreadyDecided = "already_decided";
    public const string NotGranted = "not_granted";
    public const string Mismatch = "mismatch";
}
