using Portcullis.Contracts;
using Portcullis.Gateway.Connections;
using Yarp.ReverseProxy.Forwarder;

namespace Portcullis.Gateway.Pipeline;

/// <summary>
/// The step of YARP's proxy pipeline that stands around every forward of an http connection: the request
/// flow decides before, and completes after; the body is masked by <see cref="ResponseMaskingTransform"/>.
/// </summary>
public sealed class AgentRequestGuard(RequestDelegate next, AgentRequestFlow flow, AgentResponses responses,
    ILogger<AgentRequestGuard> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var connection = context.GetReverseProxyFeature().Route.Config.Metadata![HttpConnectionRoutes.ConnectionMetadata];
        if (ForwardedPath(context, connection) is not { } path)
        {
            await responses.BadRequest(context,
                "The path has encoded slashes or backslashes, empty, '.' or '..' segments; send the plain path.");
            return;
        }
        var action = new AgentAction(Protocols.Http, connection, context.Request.Method, path,
            context.Request.QueryString.HasValue ? context.Request.QueryString.Value : null);
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
