using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;

namespace Portcullis.Approval;

/// <summary>
/// Opens an approval for every decision that requires one, naming the requester, the action, the rule and
/// the groups that may approve. (The durable approval saga that waits for approvers builds on this event.)
/// </summary>
public sealed class ApprovalRequiredConsumer(IOptions<ApprovalOptions> options, TimeProvider clock,
    ILogger<ApprovalRequiredConsumer> logger) : IConsumer<PolicyEvaluated>
{
    public async Task Consume(ConsumeContext<PolicyEvaluated> context)
    {
        var evaluated = context.Message;
        if (evaluated.Decision != Decision.RequireApproval) return;

        var now = clock.GetUtcNow();
        var requested = new ApprovalRequested(
            NewId.NextGuid(), evaluated.RequestId, evaluated.SessionId, evaluated.Principal, evaluated.Action,
            evaluated.RuleId, evaluated.Reason, evaluated.ApproverGroups, now, now + options.Value.Expiry);
        await context.Publish(requested);
        logger.LogInformation("Approval {ApprovalId} requested for request {RequestId} by rule {Rule} from {Groups}",
            requested.ApprovalId, requested.RequestId, requested.RuleId, string.Join(",", requested.ApproverGroups));
    }
}
