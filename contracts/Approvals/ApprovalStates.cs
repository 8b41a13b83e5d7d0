namespace Portcullis.Contracts;

/// <summary>The states of an approval, as <see cref="ApprovalStatus.State"/> names them.</summary>
public static class ApprovalStates
{
    public const string Pending = "Pending";
    public const string Granted = "Granted";
    public const string Denied = "Denied";
    public const string Expired = "Expired";
    public const string Used = "Used";
    public const string Revoked = "Revoked";
}
