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
/// and the saga answers pending once it has stored the approval, so the status URL the agent is given already
/// finds it.
/// </summary>
public sealed class ApprovalIntake(ApprovalQueries queries, IRequestClient<ClaimApproval> claims,
    IOptions<ApprovalOptions> options, TimeProvider clock, ILogger<ApprovalIntake> logger)
{
    /// <summary>The answer when a grant covers the request; null when the approval was opened and the saga answers.</summary>
    public async Task<ApprovalStatus?> TakeAsync(ConsumeContext<RequestApproval> context, CancellationToken cancellationToken)
    {
        var asked = context.Message;
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
        // One per approval, whatever the number of deliveries of the request: the audit keeps one copy. It carries the
        // gateway's request id and response address: the saga answers once the approval is stored (its in-memory outbox
        // holds the answer until then), so a status query right after the answer finds it.
        await context.Publish(opened, publish =>
        {
            publish.MessageId = EventMessageId.For<ApprovalRequested>(opened.ApprovalId);
            publish.RequestId = context.RequestId;
            publish.ResponseAddress = context.ResponseAddress;
        }, cancellationToken);
        logger.LogInformation("Approval {ApprovalId} requested for request {RequestId} by rule {Rule} from {Groups}",
            opened.ApprovalId, opened.RequestId, opened.RuleId, string.Join(",", opened.ApproverGroups));
        return null;
    }
}
