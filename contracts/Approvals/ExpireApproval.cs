namespace Portcullis.Contracts;

/// <summary>Sent by the approval service's expiry sweep for a pending approval past its deadline.</summary>
public sealed record ExpireApproval(Guid ApprovalId);
