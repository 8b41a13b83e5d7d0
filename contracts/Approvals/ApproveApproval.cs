namespace Portcullis.Contracts;

/// <summary>An approver allows the request; with <see cref="Window"/>, for that long for the same principal, connection and rule.</summary>
public sealed record ApproveApproval(Guid ApprovalId, Principal Approver, string? Comment, TimeSpan? Window);
