namespace Portcullis.Contracts;

/// <summary>
/// The gateway is about to run <see cref="ApprovableRequest.RequestId"/> under a granted approval. A single
/// approval is used once: the first claim wins, later ones are refused, and only for the action whose
/// <see cref="ApprovableRequest.ActionHash"/> was approved. Answered with <see cref="ApprovalStatus"/> or
/// <see cref="ApprovalRefused"/>.
/// </summary>
public sealed record ClaimApproval(Guid ApprovalId, ApprovableRequest Request);
