using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Gateway.RequestFlow;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Portcullis.Gateway.HttpProxy;

/// <summary>
/// <c>GET /approvals/{id}</c> on the gateway, the status URL agents are given with a 202: a route to the approval
/// service, which answers with the caller's own token (forwarded as it came), so an agent sees only its own approvals.
/// None of a connection's transforms apply; when the approval service does not answer, the agent gets 503.
/// </summary>
public static class ApprovalStatusRoute
{
    public const string RouteId = "approval-status";
    public const string Metadata = "portcullis.approval-status";

    public static (RouteConfig Route, ClusterConfig Cluster) Build(GatewayOptions options) => (
        new RouteConfig
        {
            RouteId = RouteId,
            ClusterId = "approval-service",
            AuthorizationPolicy = "default",
            Match = new RouteMatch { Path = "/approvals/{id:guid}", Methods = ["GET"] },
            Metadata = new Dictionary<string, string> { [Metadata] = "true" },
        },
        new ClusterConfig
        {
            ClusterId = "approval-service",
            Destinations = new Dictionary<string, DestinationConfig>
            {
                ["approval"] = new() { Address = options.ApprovalServiceUrl.TrimEnd('/') + "/" },
            },
        });

    /// <summary>The proxy pipeline's step for this route: a forward that failed is answered 503, with a problem.</summary>
    public static async Task UnavailableWhenSilent(HttpContext context, Func<Task> next)
    {
        if (context.GetReverseProxyFeature().Route.Config.Metadata?.ContainsKey(Metadata) != true)
        {
            await next();
            return;
        }
        await next();
        if (context.Features.Get<IForwarderErrorFeature>() is not null && !context.Response.HasStarted)
            await TypedResults.Problem(statusCode: 503, title: "Approval service unavailable",
                detail: "The approval service did not answer; retry later.").ExecuteAsync(context);
    }
}
