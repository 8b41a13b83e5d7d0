namespace Portcullis.Contracts;

/// <summary>A time-window grant was ended before its time; recorded in the session that asked for it.</summary>
public sealed record GrantRevoked(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    string RevokedBy,
    string? Comment,
    DateTimeOffset RevokedAt) : IRequestMessage;
