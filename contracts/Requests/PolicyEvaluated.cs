namespace Portcullis.Contracts;

/// <summary>
/// The policy service decided a request. <see cref="MatchedRules"/> lists every rule that matched,
/// <see cref="RuleId"/> the one whose effect won (null when the connection's default decided).
/// </summary>
public sealed record PolicyEvaluated(
    Guid RequestId,
    string SessionId,
    Decision Decision,
    string? RuleId,
    string Reason,
    IReadOnlyList<string> MatchedRules,
    IReadOnlyList<string> ApproverGroups,
    string PolicyVersion,
    Principal Principal,
    AgentAction Action,
    DateTimeOffset EvaluatedAt,
    Obligations? Obligations = null) : IRequestMessage;
