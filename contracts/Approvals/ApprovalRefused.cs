namespace Portcullis.Contracts;

/// <summary>A command on an approval was refused; <see cref="Code"/> is one of <see cref="ApprovalRefusals"/>.</summary>
public sealed record ApprovalRefused(Guid ApprovalId, string Code, string Detail);
