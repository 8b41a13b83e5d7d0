using Marten;
using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;

namespace Portcullis.Approval;

/// <summary>
/// Answers the gateway's <see cref="RequestApproval"/>: when an open time-window grant covers the same
/// principal, connection and rule, the request is claimed under it (through the saga, so a revoked grant is not
/// used) and granted at once; otherwise the approval is opened (<see cref="ApprovalRequested"/> starts the saga)
/// and the answer is pending.
/// </summary>
public sealed class RequestApprovalConsumer(IQuerySession store, IRequestClient<ClaimApproval> claims,
    IOptions<ApprovalOptions> options, TimeProvider clock, ILogger<RequestApprovalConsumer> logger) : IConsumer<RequestApproval>
{
    public async Task Consume(ConsumeContext<RequestApproval> context)
    {
        var asked = context.Message;
        var request = asked.Request;
        var now = clock.GetUtcNow();
        var subject = request.Requester.Subject;
        var grants = await store.Query<ApprovalState>()
            .Where(a => a.CurrentState == ApprovalStates.Granted && a.GrantedUntil != null && a.GrantedUntil > now
                        && a.RequesterSubject == subject && a.Connection == request.Action.Connection && a.RuleId == request.RuleId)
            .OrderByDescending(a => a.GrantedUntil)
            .ToListAsync(context.CancellationToken);
        foreach (var grant in grants)
        {
            var claim = await claims.GetResponse<ApprovalStatus, ApprovalRefused>(new ClaimApproval(grant.CorrelationId, request),
                context.CancellationToken);
            if (claim.Is(out Response<ApprovalStatus>? granted) && granted.Message.State == ApprovalStates.Granted)
            {
                logger.LogInformation("Request {RequestId} runs under grant {ApprovalId} until {Until}",
                    request.RequestId, grant.CorrelationId, granted.Message.GrantedUntil);
                await context.RespondAsync(granted.Message);
                return;
            }
        }

        var opened = new ApprovalRequested(asked.ApprovalId, request.RequestId, request.SessionId, request.Requester,
            request.Action, request.RuleId, asked.Reason,
            asked.ApproverGroups.Count > 0 ? asked.ApproverGroups : options.Value.DefaultApproverGroups,
            now, now + options.Value.Expiry, request.ActionHash, asked.BodyPreview);
        // One per approval, whatever the number of deliveries of the request: the audit keeps one copy.
        await context.Publish(opened, publish => publish.MessageId = EventMessageId.For<ApprovalRequested>(opened.ApprovalId));
        logger.LogInformation("Approval {ApprovalId} requested for request {RequestId} by rule {Rule} from {Groups}",
            opened.ApprovalId, opened.RequestId, opened.RuleId, string.Join(",", opened.ApproverGroups));
        await context.RespondAsync(new ApprovalStatus(opened.ApprovalId, ApprovalStates.Pending, opened.RequestId,
            opened.SessionId, opened.Requester, opened.Action, opened.RuleId, opened.Reason, opened.ApproverGroups,
            opened.RequestedAt, opened.ExpiresAt, ActionHash: opened.ActionHash, BodyPreview: opened.BodyPreview));
    }
}
