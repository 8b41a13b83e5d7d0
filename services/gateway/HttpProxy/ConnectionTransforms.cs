using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.Connectors.Http;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Sessions;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Portcullis.Gateway.HttpProxy;

/// <summary>
/// The same transforms on every http connection route (<see cref="HttpConnectionRoutes"/>), in code so configuration
/// cannot weaken them: the canonical target, no request-rewriting headers, the gateway's credentials instead of the
/// agent's, and a masked response. Routes that are not connections (the approval status route) get none of them.
/// </summary>
public sealed class ConnectionTransforms(PortcullisConfig config, SecretResolver secrets, ResponseMaskingTransform masking)
    : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
        if (ConnectionOf(context.Route.Metadata) is { } name
            && !(config.Connections.TryGetValue(name, out var connection) && connection.Kind == "http"))
            context.Errors.Add(new InvalidOperationException($"Route '{context.Route.RouteId}' names no http connection '{name}'."));
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        if (ConnectionOf(context.Route.Metadata) is not { } name) return;
        // The upstream gets exactly the target the policy judged (AgentRequestGuard made it canonical).
        context.AddRequestTransform(transform =>
        {
            if (transform.HttpContext.Items[CanonicalTarget.ItemKey] is not CanonicalTarget target)
                throw new InvalidOperationException("No canonical target was judged for this request; nothing is forwarded.");
            transform.ProxyRequest.RequestUri = target.ForwardUri(transform.DestinationPrefix);
            // Headers that make a framework execute another method or path than the one judged, or trust a
            // client address or host the agent made up, never reach the upstream. YARP adds its own X-Forwarded-*
            // after this removal.
            foreach (var header in transform.ProxyRequest.Headers.Select(h => h.Key).Where(RequestRewritingHeaders.Contains).ToArray())
                transform.ProxyRequest.Headers.Remove(header);
            return ValueTask.CompletedTask;
        });
        // The agent's token and session are for the gateway; upstream credentials are the gateway's to add.
        context.AddRequestHeaderRemove("Authorization");
        context.AddRequestHeaderRemove("Cookie");
        // Credentials for a proxy on the way are the agent's own, and no hop of the gateway's.
        context.AddRequestHeaderRemove("Proxy-Authorization");
        context.AddRequestHeaderRemove("Proxy-Connection");
        context.AddRequestHeaderRemove(SessionResolver.SessionHeader);
        context.AddRequestHeaderRemove(ApprovalGate.Header);
        // Bodies come back uncompressed so they can be masked.
        context.AddRequestHeaderRemove("Accept-Encoding");
        // Whole bodies only: a slice (Range) could cut a value in two, each part too short for a detector to know.
        context.AddRequestHeaderRemove("Range");
        context.AddRequestHeaderRemove("If-Range");
        // Upstream credentials come from the gateway's secrets, replacing anything the agent sent under that name.
        var headers = config.Connections[name].Headers;
        if (headers.Count > 0)
        {
            context.AddRequestTransform(async transform =>
            {
                var sent = new List<string>(headers.Count);
                foreach (var (header, value) in headers)
                {
                    var secret = await secrets.ResolveAsync(value, transform.HttpContext.RequestAborted);
                    transform.ProxyRequest.Headers.Remove(header);
                    transform.ProxyRequest.Headers.TryAddWithoutValidation(header, secret);
                    sent.Add(secret);
                }
                // An upstream that echoes them back (a debug route, a redirect URL) must not hand them to the agent.
                transform.HttpContext.Items[UpstreamCredentials.ItemKey] = sent;
            });
        }
        context.AddResponseTransform(masking.Apply);
    }

    private static string? ConnectionOf(IReadOnlyDictionary<string, string>? metadata) =>
        metadata?.TryGetValue(HttpConnectionRoutes.ConnectionMetadata, out var name) == true ? name : null;
}
