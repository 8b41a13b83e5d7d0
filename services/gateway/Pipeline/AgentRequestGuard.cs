using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Gateway.Connections;
using Portcullis.Gateway.Sessions;
using Yarp.ReverseProxy.Forwarder;

namespace Portcullis.Gateway.Pipeline;

/// <summary>
/// The step of the proxy pipeline that stands around every forward: record the request (broker-confirmed),
/// get the policy decision within the deadline, and forward only on allow. Then it records how the request
/// completed, with the output, and only once that is confirmed does the agent get the output. Anything it
/// cannot confirm or decide ends in a refusal, never in a forward or an unrecorded answer.
/// </summary>
public sealed class AgentRequestGuard(
    RequestDelegate next,
    SessionResolver sessions,
    AgentResponses responses,
    IOptions<GatewayOptions> options,
    TimeProvider clock,
    ILogger<AgentRequestGuard> logger)
{
    // The bus clients are scoped, so they come per request.
    public async Task InvokeAsync(HttpContext context, IRequestClient<RequestReceived> decisions, IPublishEndpoint publisher)
    {
        var connection = context.GetReverseProxyFeature().Route.Config.Metadata![HttpConnectionRoutes.ConnectionMetadata];
        var session = sessions.Resolve(context);
        if (session.SessionId is null)
        {
            await responses.BadRequest(context, session.Error!);
            return;
        }
        if (ForwardedPath(context, connection) is not { } path)
        {
            await responses.BadRequest(context,
                "The path has encoded slashes or backslashes, empty, '.' or '..' segments; send the plain path.");
            return;
        }

        var action = new AgentAction(Protocols.Http, connection, context.Request.Method, path,
            context.Request.QueryString.HasValue ? context.Request.QueryString.Value : null);
        var request = new AgentRequest(NewId.NextGuid(), session.SessionId, action);
        context.Features.Set(request);

        try
        {
            var decision = await Decide(context, request, decisions);
            if (decision is null)
                responses.Unavailable(context, request, "No policy decision arrived within the deadline.");
            else if (decision.Decision == Decision.Deny)
                responses.Denied(context, request, decision);
            else if (decision.Decision == Decision.RequireApproval)
                responses.ApprovalRequired(context, request, decision);
            else
                await Forward(context, request);
        }
        finally
        {
            await Complete(context, request, publisher);
        }
        await AgentResponses.Deliver(context, request);
    }

    private async Task<PolicyEvaluated?> Decide(HttpContext context, AgentRequest request,
        IRequestClient<RequestReceived> decisions)
    {
        var received = new RequestReceived(request.RequestId, request.SessionId, context.User.ToPrincipal(),
            request.Action, clock.GetUtcNow());
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(options.Value.DecisionTimeout);
        try
        {
            // The request client publishes RequestReceived and returns only after the broker confirmed it.
            var response = await decisions.GetResponse<PolicyEvaluated>(received,
                // No time-to-live: the same message is the audit's record and must not expire in its queue.
                request => request.UseExecute(send => send.TimeToLive = null),
                deadline.Token, RequestTimeout.After(ms: (int)options.Value.DecisionTimeout.TotalMilliseconds));
            return response.Message;
        }
        catch (Exception ex) when (ex is RequestTimeoutException or OperationCanceledException or MassTransitException
                                       or RabbitMQ.Client.Exceptions.BrokerUnreachableException)
        {
            logger.LogWarning("Request {RequestId}: no policy decision ({Reason}: {Message}); refused",
                request.RequestId, ex.GetType().Name, ex.InnerException?.Message ?? ex.Message);
            return null;
        }
    }

    private async Task Forward(HttpContext context, AgentRequest request)
    {
        await next(context);
        // YARP leaves failed forwards with an empty body; the agent gets problem details instead.
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is not null && !context.Response.HasStarted)
        {
            logger.LogWarning("Request {RequestId}: forward failed ({Error})", request.RequestId, error.Error);
            responses.UpstreamFailed(context, request, StatusCodes.Status502BadGateway,
                $"The upstream of connection '{request.Action.Connection}' did not answer ({error.Error}).");
        }
    }

    private async Task Complete(HttpContext context, AgentRequest request, IPublishEndpoint publisher)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(options.Value.DecisionTimeout);
        try
        {
            await publisher.Publish(new RequestCompleted(request.RequestId, request.SessionId, request.Outcome,
                context.Response.StatusCode, request.ElapsedMs, responses.Capture(request), clock.GetUtcNow()), deadline.Token);
        }
        catch (Exception ex)
        {
            // Unrecorded output is not delivered: the agent gets a refusal instead.
            logger.LogError("Request {RequestId}: RequestCompleted could not be published ({Reason}); output withheld",
                request.RequestId, ex.GetType().Name);
            if (!context.Response.HasStarted)
                responses.Unavailable(context, request, "The result could not be recorded in the audit trail.");
        }
    }

    /// <summary>
    /// The path the upstream will get, or null when it could be read two ways (encoded slashes, dot or empty
    /// segments): the policy must judge exactly what is forwarded.
    /// </summary>
    private static string? ForwardedPath(HttpContext context, string connection)
    {
        var path = context.Request.Path.Value ?? "";
        var prefix = $"/http/{connection}";
        var rest = path.Length > prefix.Length ? path[prefix.Length..] : "/";
        if (rest.Contains("%2f", StringComparison.OrdinalIgnoreCase) || rest.Contains("%5c", StringComparison.OrdinalIgnoreCase)
            || rest.Contains('\\') || rest.Contains("//", StringComparison.Ordinal))
            return null;
        var segments = rest.Split('/');
        return segments.Any(s => s is "." or "..") ? null : rest;
    }
}
