using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Gateway.Problems;

namespace Portcullis.Gateway.RequestFlow;

/// <summary>
/// The answers the gateway itself gives an agent, as problem details it can read and act on: which rule,
/// why, whether approval can be asked for, what to do next. For a request under way they only become its
/// output: the guard delivers it once the request's completion is recorded.
/// </summary>
public sealed class AgentResponses(IOptions<GatewayOptions> options)
{
    public void Denied(HttpContext context, AgentRequest request, PolicyEvaluated decision) =>
        Prepare(context, request, Outcomes.Denied, StatusCodes.Status403Forbidden, "denied", "Denied by policy",
            decision.Reason, new()
            {
                ["rule"] = decision.RuleId,
                ["policyVersion"] = decision.PolicyVersion,
                ["approvalAvailable"] = false,
            });

    /// <summary>202: the request waits for an approver; re-send it with the approval id once granted.</summary>
    public void ApprovalPending(HttpContext context, AgentRequest request, PolicyEvaluated decision, ApprovalStatus approval,
        string statusUrl, TimeSpan retryAfter)
    {
        Prepare(context, request, Outcomes.ApprovalPending, StatusCodes.Status202Accepted, "approval-pending",
            "Approval pending",
            $"{decision.Reason} An approver from {string.Join(", ", approval.ApproverGroups)} must approve this action; it has not run. " +
            $"Re-send the same request with the header '{ApprovalGate.Header}: {approval.ApprovalId}' after " +
            $"{(int)retryAfter.TotalSeconds} seconds; it runs once the approval is granted.",
            new()
            {
                ["rule"] = decision.RuleId,
                ["policyVersion"] = decision.PolicyVersion,
                ["approvalId"] = approval.ApprovalId,
                ["approvalStatus"] = "pending",
                ["statusUrl"] = statusUrl,
                ["retryAfterSeconds"] = (int)retryAfter.TotalSeconds,
                ["expiresAt"] = approval.ExpiresAt,
                ["approverGroups"] = approval.ApproverGroups,
            }, contentType: "application/json");
        context.Response.Headers.RetryAfter = ((int)retryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.Headers.Location = statusUrl;
    }

    public void ApprovalDenied(HttpContext context, AgentRequest request, PolicyEvaluated decision, Guid approvalId,
        string approver, string? comment) =>
        Prepare(context, request, Outcomes.Denied, StatusCodes.Status403Forbidden, "approval-denied", "Denied by an approver",
            $"{approver} denied this action{(comment is null ? "." : $": {comment}")}", new()
            {
                ["rule"] = decision.RuleId,
                ["policyVersion"] = decision.PolicyVersion,
                ["approvalId"] = approvalId,
                ["approver"] = approver,
                ["comment"] = comment,
                ["approvalAvailable"] = false,
            });

    /// <summary>The approval cannot let this request run any more (expired, used, revoked); a new one can be asked for.</summary>
    public void ApprovalClosed(HttpContext context, AgentRequest request, PolicyEvaluated decision, Guid approvalId, string why) =>
        Prepare(context, request, Outcomes.ApprovalRequired, StatusCodes.Status403Forbidden, "approval-closed",
            "Approval no longer valid",
            $"{why} Nothing ran. Send the request without '{ApprovalGate.Header}' to ask for a new approval.", new()
            {
                ["rule"] = decision.RuleId,
                ["policyVersion"] = decision.PolicyVersion,
                ["approvalId"] = approvalId,
                ["approvalAvailable"] = true,
            });

    public void ApprovalRefused(HttpContext context, AgentRequest request, PolicyEvaluated decision, ApprovalRefused refused) =>
        Prepare(context, request, Outcomes.ApprovalRequired,
            refused.Code == ApprovalRefusals.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status403Forbidden,
            "approval-" + refused.Code.Replace('_', '-'), "Approval does not apply",
            $"{refused.Detail} Nothing ran. Send the request without '{ApprovalGate.Header}' to ask for a new approval.", new()
            {
                ["rule"] = decision.RuleId,
                ["policyVersion"] = decision.PolicyVersion,
                ["approvalId"] = refused.ApprovalId,
                ["approvalAvailable"] = true,
            });

    public void Unavailable(HttpContext context, AgentRequest request, string detail) =>
        Prepare(context, request, Outcomes.Unavailable, StatusCodes.Status503ServiceUnavailable, "unavailable",
            "Gateway cannot decide or mask right now", detail + " Nothing was returned from the upstream; retry later.", []);

    public void UpstreamFailed(HttpContext context, AgentRequest request, int status, string detail) =>
        Prepare(context, request, Outcomes.UpstreamFailed, status, "upstream-failed", "Upstream failed", detail, []);

    /// <summary>Refuses what never became a request (no session, an ambiguous path): written at once.</summary>
    public Task BadRequest(HttpContext context, string detail) =>
        ProblemDocument.WriteAsync(context, StatusCodes.Status400BadRequest, "bad-request", "Bad request", detail);

    /// <summary>413: a body the gateway must hash to bind an approval to it is larger than it holds.</summary>
    public void BodyTooLarge(HttpContext context, AgentRequest request, PolicyEvaluated decision, int limit) =>
        Prepare(context, request, Outcomes.ApprovalRequired, StatusCodes.Status413PayloadTooLarge, "body-too-large",
            "Body too large for an approval",
            $"{decision.Reason} This action needs an approval, and an approval covers the exact body, which the gateway holds " +
            $"up to {limit} bytes; this body is larger. Nothing ran. Send a smaller body.", new()
            {
                ["rule"] = decision.RuleId,
                ["policyVersion"] = decision.PolicyVersion,
                ["maxBodyBytes"] = limit,
            });

    public Task UnknownConnection(HttpContext context, string connection, string kind = "http") =>
        ProblemDocument.WriteAsync(context, StatusCodes.Status404NotFound, "unknown-connection", "Unknown connection",
            $"There is no {kind} connection named '{connection}'.");

    /// <summary>
    /// Refuses a connector request that cannot become an action (no such connection of that kind, nothing to
    /// run), and says so by returning true.
    /// </summary>
    public async Task<bool> RefusedAsync(HttpContext context, bool known, string connection, string kind, string? text, string usage)
    {
        if (!known) await UnknownConnection(context, connection, kind);
        else if (string.IsNullOrWhiteSpace(text)) await BadRequest(context, usage);
        else return false;
        return true;
    }

    /// <summary>Sends the request's output, exactly the bytes recorded for it.</summary>
    public static Task Deliver(HttpContext context, AgentRequest request) =>
        request.Output is { Length: > 0 } output && !context.Response.HasStarted
            ? context.Response.Body.WriteAsync(output, context.RequestAborted).AsTask()
            : Task.CompletedTask;

    /// <summary>Builds the audit copy of an output: its start (capped), its size and its hash.</summary>
    public CapturedOutput? Capture(AgentRequest request)
    {
        if (request.Output is not { } output) return null;
        var cap = Math.Min(output.Length, options.Value.AuditPreviewBytes);
        var preview = Encoding.UTF8.GetString(output, 0, cap).TrimEnd('\uFFFD'); // a cut character is dropped
        return new CapturedOutput(request.OutputContentType, preview, output.LongLength,
            Convert.ToHexStringLower(SHA256.HashData(output)), cap < output.Length);
    }

    private static void Prepare(HttpContext context, AgentRequest request, string outcome, int status, string type,
        string title, string detail, Dictionary<string, object?> extensions, string contentType = "application/problem+json")
    {
        extensions["requestId"] = request.RequestId;
        extensions["sessionId"] = request.SessionId;
        var body = ProblemDocument.Bytes(context, status, type, title, detail, extensions);
        var response = context.Response;
        response.Headers.Clear(); // nothing of an upstream answer survives into a refusal
        response.StatusCode = status;
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        request.Outcome = outcome;
        request.Output = body;
        request.OutputContentType = response.ContentType;
    }
}
