namespace Portcullis.Contracts;

/// <summary>Why a command on an approval was refused (<see cref="ApprovalRefused.Code"/>).</summary>
public static class ApprovalRefusals
{
    public const string NotFound = "not_found";
    public const string NotApprover = "not_approver";
    public const string SelfApproval = "self_approval";
    public const string AlreadyDecided = "already_decided";
    public const string NotGranted = "not_granted";
    public const string Mismatch = "mismatch";
}
