using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;

namespace Portcullis.Approval;

/// <summary>
/// Takes in the gateway's <see cref="RequestApproval"/>: when an open time-window grant covers the same
/// principal, connection and rule, the request is claimed under it (through the saga, so a revoked grant is not
/// used) and granted at once; otherwise the approval is opened (<see cref="ApprovalRequested"/> starts the saga)
/// and the answer is pending.
/// </summary>
public sealed class ApprovalIntake(ApprovalQueries queries, IRequestClient<ClaimApproval> claims,
    IOptions<ApprovalOptions> options, TimeProvider clock, ILogger<ApprovalIntake> logger)
{
    public async Task<ApprovalStatus> TakeAsync(RequestApproval asked, IPublishEndpoint publisher, CancellationToken cancellationToken)
    {
        var request = asked.Request;
        var now = clock.GetUtcNow();
        foreach (var grant in await queries.OpenGrantsCovering(request, now, cancellationToken))
        {
            var claim = await claims.GetResponse<ApprovalStatus, ApprovalRefused>(new ClaimApproval(grant, request), cancellationToken);
            if (claim.Is(out Response<ApprovalStatus>? granted) && granted.Message.State == ApprovalStates.Granted)
            {
                logger.LogInformation("Request {RequestId} runs under grant {ApprovalId} until {Until}",
                    request.RequestId, grant, granted.Message.GrantedUntil);
                return granted.Message;
            }
        }

        var opened = new ApprovalRequested(asked.ApprovalId, request.RequestId, request.SessionId, request.Requester,
            request.Action, request.RuleId, asked.Reason,
            asked.ApproverGroups.Count > 0 ? asked.ApproverGroups : options.Value.DefaultApproverGroups,
            now, now + options.Value.Expiry, request.ActionHash, asked.BodyPreview);
        // One per approval, whatever the number of deliveries of the request: the audit keeps one copy.
        await publisher.Publish(opened, publish => publish.MessageId = EventMessageId.For<ApprovalRequested>(opened.ApprovalId),
            cancellationToken);
        logger.LogInformation("Approval {ApprovalId} requested for request {RequestId} by rule {Rule} from {Groups}",
            opened.ApprovalId, opened.RequestId, opened.RuleId, string.Join(",", opened.ApproverGroups));
        return new ApprovalStatus(opened.ApprovalId, ApprovalStates.Pending, opened.RequestId, opened.SessionId,
            opened.Requester, opened.Action, opened.RuleId, opened.Reason, opened.ApproverGroups, opened.RequestedAt,
            opened.ExpiresAt, ActionHash: opened.ActionHash, BodyPreview: opened.BodyPreview);
    }
}
