namespace Portcullis.Contracts;

public sealed record ApprovalDenied(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    string Approver,
    string? Comment,
    DateTimeOffset DeniedAt,
    string? Connection = null,
    string? RuleId = null) : IRequestMessage;
