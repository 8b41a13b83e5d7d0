using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;

namespace Portcullis.Gateway.RequestFlow;

/// <summary>
/// What happens to a request a rule sent to approval. A time-window grant that covers it lets it run at once.
/// Otherwise the approval is opened (or, when the agent re-sends the request with the approval id in
/// <see cref="Header"/>, looked up), and the request is held for <see cref="GatewayOptions.ApprovalWait"/> (or less,
/// when the agent sends <c>Prefer: wait=N</c>):
/// granted in time, it runs (a single approval is claimed, so it runs once); denied or expired, it is refused;
/// still pending, the agent gets 202 with the approval id, a status URL and Retry-After. When the approval
/// service cannot answer, nothing runs (503).
/// </summary>
public sealed class ApprovalGate(ApprovalWaiters waiters, AgentResponses responses, IOptions<GatewayOptions> options,
    ILogger<ApprovalGate> logger)
{
    public const string Header = "X-Portcullis-Approval";

    /// <summary>Whether the request may run; when not, its answer is prepared.</summary>
    public async Task<bool> PassAsync(HttpContext context, AgentRequest request, PolicyEvaluated decision)
    {
        var settings = options.Value;
        // What the approval covers: this exact action (for HTTP, the body the forward will send, held in memory).
        if (await ActionDigest.OfRequestAsync(context, request.Action, settings.MaxApprovalBodyBytes) is not { } digest)
        {
            responses.BodyTooLarge(context, request, decision, settings.MaxApprovalBodyBytes);
            return false;
        }
        var approvalId = request.PresentedApprovalId ?? NewId.NextGuid();
        using var waiter = waiters.Register(approvalId);
        var deadline = DateTimeOffset.UtcNow + Wait(context, settings.ApprovalWait);
        try
        {
            var answer = request.PresentedApprovalId is null
                ? await AskAsync(context, request, decision, approvalId, digest)
                : await ClaimAsync(context, request, decision, approvalId, digest.Hash);
            while (true)
            {
                switch (answer)
                {
                    case ApprovalStatus { State: ApprovalStates.Granted, GrantedUntil: not null }:
                    case ApprovalStatus { State: ApprovalStates.Used } used when used.UsedBy == request.RequestId:
                        logger.LogInformation("Request {RequestId} runs under approval {ApprovalId}", request.RequestId,
                            ((ApprovalStatus)answer).ApprovalId);
                        return true;
                    case ApprovalStatus { State: ApprovalStates.Pending } pending:
                        var remaining = deadline - DateTimeOffset.UtcNow;
                        var decided = remaining > TimeSpan.Zero
                            ? await waiter.WaitAsync(remaining, context.RequestAborted)
                            : null;
                        if (decided is null)
                        {
                            responses.ApprovalPending(context, request, decision, pending, StatusUrl(settings.PublicUrl, pending.ApprovalId),
                                settings.ApprovalRetryAfter);
                            return false;
                        }
                        answer = decided is ApprovalGranted
                            ? await ClaimAsync(context, request, decision, pending.ApprovalId, digest.Hash)
                            : decided;
                        break;
                    case ApprovalDenied denied:
                        responses.ApprovalDenied(context, request, decision, denied.ApprovalId, denied.Approver, denied.Comment);
                        return false;
                    case ApprovalStatus { State: ApprovalStates.Denied } denied:
                        responses.ApprovalDenied(context, request, decision, denied.ApprovalId, denied.DecidedBy!, denied.Comment);
                        return false;
                    case ApprovalExpired expired:
                        responses.ApprovalClosed(context, request, decision, expired.ApprovalId,
                            "The approval expired before an approver decided it.");
                        return false;
                    case ApprovalStatus closed:
                        responses.ApprovalClosed(context, request, decision, closed.ApprovalId, closed.State switch
                        {
                            ApprovalStates.Expired => "The approval expired before an approver decided it.",
                            ApprovalStates.Used => "The approval was for one request, and that request already ran.",
                            ApprovalStates.Revoked => "The grant was revoked.",
                            _ => $"The approval is {closed.State.ToLowerInvariant()}.",
                        });
                        return false;
                    case ApprovalRefused refused:
                        responses.ApprovalRefused(context, request, decision, refused);
                        return false;
                    default:
                        throw new InvalidOperationException($"Unexpected approval answer {answer.GetType().Name}.");
                }
            }
        }
        catch (Exception ex) when (ex is RequestTimeoutException or OperationCanceledException or MassTransitException
                                       or RabbitMQ.Client.Exceptions.BrokerUnreachableException)
        {
            logger.LogWarning("Request {RequestId}: the approval service did not answer ({Reason}); refused",
                request.RequestId, ex.GetType().Name);
            responses.Unavailable(context, request, "The approval service did not answer within the deadline.");
            return false;
        }
    }

    private async Task<object> AskAsync(HttpContext context, AgentRequest request, PolicyEvaluated decision, Guid approvalId,
        (string Hash, string? BodyPreview) digest)
    {
        var client = context.RequestServices.GetRequiredService<IRequestClient<RequestApproval>>();
        var response = await client.GetResponse<ApprovalStatus>(new RequestApproval(approvalId,
                Approvable(request, decision, digest.Hash), decision.Reason, decision.ApproverGroups, digest.BodyPreview),
            context.RequestAborted, RequestTimeout.After(ms: (int)options.Value.DecisionTimeout.TotalMilliseconds));
        return response.Message;
    }

    private async Task<object> ClaimAsync(HttpContext context, AgentRequest request, PolicyEvaluated decision, Guid approvalId,
        string actionHash)
    {
        var client = context.RequestServices.GetRequiredService<IRequestClient<ClaimApproval>>();
        var response = await client.GetResponse<ApprovalStatus, ApprovalRefused>(
                new ClaimApproval(approvalId, Approvable(request, decision, actionHash)),
            context.RequestAborted, RequestTimeout.After(ms: (int)options.Value.DecisionTimeout.TotalMilliseconds));
        return response.Message;
    }

    private static ApprovableRequest Approvable(AgentRequest request, PolicyEvaluated decision, string actionHash) =>
        new(request.RequestId, request.SessionId, decision.Principal, request.Action, decision.RuleId, actionHash);

    /// <summary>The configured wait, shortened by the agent's <c>Prefer: wait=N</c> (RFC 7240) when it asks for less.</summary>
    public static TimeSpan Wait(HttpContext context, TimeSpan configured)
    {
        foreach (var preference in context.Request.Headers["Prefer"].SelectMany(v => (v ?? "").Split(',')))
        {
            var parts = preference.Trim().Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts is ["wait", var value] && int.TryParse(value, out var seconds) && seconds >= 0)
                return TimeSpan.FromSeconds(seconds) < configured ? TimeSpan.FromSeconds(seconds) : configured;
        }
        return configured;
    }

    /// <summary>
    /// The approval's status URL on the gateway: on the configured public URL, else a relative path. Never from the
    /// request's Host (the caller's to forge), since a person may be shown and click this link.
    /// </summary>
    public static string StatusUrl(string? publicUrl, Guid approvalId) =>
        $"{(string.IsNullOrWhiteSpace(publicUrl) ? "" : publicUrl.TrimEnd('/'))}/approvals/{approvalId}";
}
