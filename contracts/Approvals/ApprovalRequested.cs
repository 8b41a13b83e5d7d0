namespace Portcullis.Contracts;

/// <summary>
/// A rule asked for a human decision on a request. <see cref="ActionHash"/> identifies exactly the action to be
/// approved (computed by the gateway); <see cref="BodyPreview"/> is the start of an HTTP request's body.
/// </summary>
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
    DateTimeOffset ExpiresAt,
    string? ActionHash = null,
    string? BodyPreview = null) : IRequestMessage;
