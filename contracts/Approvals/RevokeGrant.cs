namespace Portcullis.Contracts;

/// <summary>
/// An approver (or admin) ends a time-window grant before its time: only the approver who granted it, members of
/// its approver groups, and admins may.
/// </summary>
public sealed record RevokeGrant(Guid ApprovalId, Principal RevokedBy, string? Comment);
