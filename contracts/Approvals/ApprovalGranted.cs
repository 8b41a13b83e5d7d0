namespace Portcullis.Contracts;

/// <summary>An approver allowed a request; with <see cref="GrantedUntil"/>, a time window for the same principal, connection and rule.</summary>
public sealed record ApprovalGranted(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    string Approver,
    string? Comment,
    DateTimeOffset? GrantedUntil,
    DateTimeOffset GrantedAt,
    string? Connection = null,
    string? RuleId = null) : IRequestMessage;
