namespace Portcullis.Contracts;

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
