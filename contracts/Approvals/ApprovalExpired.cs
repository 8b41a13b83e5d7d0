namespace Portcullis.Contracts;

public sealed record ApprovalExpired(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    DateTimeOffset ExpiredAt) : IRequestMessage;
