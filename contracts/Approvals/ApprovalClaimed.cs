namespace Portcullis.Contracts;

/// <summary>
/// A request runs under an approval: the one it asked for, or a time-window grant that covers it (then
/// <see cref="ApprovalId"/> names the grant and <see cref="GrantedUntil"/> its end). Recorded in the session of
/// the request that runs.
/// </summary>
public sealed record ApprovalClaimed(
    Guid ApprovalId,
    Guid RequestId,
    string SessionId,
    string GrantedBy,
    DateTimeOffset? GrantedUntil,
    DateTimeOffset ClaimedAt) : IRequestMessage;
