using Microsoft.AspNetCore.Http.Features;
using Portcullis.Contracts;
using Portcullis.Gateway.Connectors.Http;
using Yarp.ReverseProxy.Forwarder;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.HttpProxy;

/// <summary>
/// The step of YARP's proxy pipeline that stands around every forward of an http connection: the request
/// flow decides before, and completes after; the body is masked by <see cref="ResponseMaskingTransform"/>.
/// </summary>
public sealed class AgentRequestGuard(RequestDelegate next, AgentRequestFlow flow, AgentResponses responses,
    ILogger<AgentRequestGuard> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (context.GetReverseProxyFeature().Route.Config.Metadata?.GetValueOrDefault(HttpConnectionRoutes.ConnectionMetadata)
            is not { } connection)
        {
            await next(context); // a route that is not a connection (the approval status) is no agent action
            return;
        }
        // TRACE (and TRACK) answer with the request as the upstream received it, the gateway's credentials included;
        // CONNECT asks for a tunnel to another host. None is forwarded, whatever the policy says.
        if (context.Request.Method.ToUpperInvariant() is "TRACE" or "TRACK" or "CONNECT" or "DEBUG")
        {
            await responses.BadRequest(context, $"The method {context.Request.Method} is not forwarded: it echoes the request, with the " +
                                                "gateway's credentials, back to the caller, or opens a tunnel.");
            return;
        }
        // An upgrade (WebSocket, h2c) would leave an open stream that masking never sees; hop-by-hop tricks and
        // bodies the policy does not read are refused before anything is judged or read.
        if ((context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
                ? "The request asks to switch protocols; an upgraded stream would bypass masking, so it is not forwarded."
                : RequestFraming.Problem(context.Request.Method, context.Request.Headers, RequestFraming.HasBody(context.Request)))
            is { } framing)
        {
            await responses.BadRequest(context, framing);
            return;
        }
        if (CanonicalTarget.Of(context, connection, out var problem) is not { } target
            || (problem = await CanonicalTarget.BodyOverrideAsync(context.Request, context.RequestAborted)) is not null)
        {
            await responses.BadRequest(context, problem!);
            return;
        }
        context.Items[CanonicalTarget.ItemKey] = target;
        var action = new AgentAction(Protocols.Http, connection, context.Request.Method, target.Path, target.Query);
        if (await flow.BeginAsync(context, action) is not { } request) return;

        try
        {
            if (await flow.DecideAsync(context, request) is not null)
                await Forward(context, request);
        }
        finally
        {
            await flow.FinishAsync(context, request);
        }
    }

    private async Task Forward(HttpContext context, AgentRequest request)
    {
        request.UpstreamStarted();
        await next(context);
        request.UpstreamAnswered(); // when the upstream did not answer (the transform marks it when it did)
        // YARP leaves failed forwards with an empty body; the agent gets problem details instead.
        var error = context.Features.Get<IForwarderErrorFeature>();
        if (error is not null && !context.Response.HasStarted)
        {
            logger.LogWarning("Request {RequestId}: forward failed ({Error})", request.RequestId, error.Error);
            responses.UpstreamFailed(context, request, StatusCodes.Status502BadGateway,
                $"The upstream of connection '{request.Action.Connection}' did not answer ({error.Error}).");
        }
    }
}
