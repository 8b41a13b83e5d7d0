namespace Portcullis.Contracts;

public static class Outcomes
{
    public const string Completed = "completed";
    public const string Denied = "denied";
    public const string ApprovalRequired = "approval_required";
    public const string ApprovalPending = "approval_pending";
    public const string Unavailable = "unavailable";
    public const string UpstreamFailed = "upstream_failed";
}
