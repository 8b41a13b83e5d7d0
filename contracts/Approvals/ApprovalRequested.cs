namespace Portcullis.Contracts;

/// <summary>A rule asked for a human decision on a request.</summary>
public sealed record ApprovalRequested(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    Principal Requester,
    AgentAction Action,
    string? RuleId,
    string Reason,
    IReadOnlyList<string> ApproverGroups,
    DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt) : IRequestMessage;
