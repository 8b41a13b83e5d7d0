namespace Portcullis.Contracts;

/// <summary>An approver refuses the request.</summary>
public sealed record DenyApproval(Guid ApprovalId, Principal Approver, string? Comment);
