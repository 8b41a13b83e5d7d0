namespace Portcullis.Approval.Saga;

/// <summary>The approval service's settings (section <c>Approval</c>): expiry, windows, who approves and revokes.</summary>
public sealed class ApprovalOptions
{
    /// <summary>How long an approval stays open before it expires.</summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How often overdue approvals are looked for.</summary>
    public TimeSpan ExpirySweepInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest time window an approver can grant.</summary>
    public TimeSpan MaxGrantWindow { get; set; } = TimeSpan.FromHours(8);

    /// <summary>Members of this group may revoke any grant (besides its approver and its approver groups).</summary>
    public string AdminGroup { get; set; } = "admins";

    /// <summary>Who approves when a rule names no approver groups.</summary>
    public List<string> DefaultApproverGroups { get; set; } = ["approvers"];

    /// <summary>This service's URL as approvers reach it, for links in notifications.</summary>
    public string PublicUrl { get; set; } = "http://127.0.0.1:5103";

    public string ConsoleLink(Guid approvalId) => $"{PublicUrl.TrimEnd('/')}/console/approvals/{approvalId}";
}
