using Portcullis.Defaults.Configuration;
using Portcullis.Gateway.Pipeline;
using Portcullis.Defaults.Secrets;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Portcullis.Gateway.Connections;

/// <summary>
/// YARP routes and clusters for the http connections of portcullis.yaml: <c>/http/{name}/{**path}</c> goes
/// to the connection's upstream and nowhere else (the agent never names a host).
/// </summary>
public static class HttpConnectionRoutes
{
    public const string ConnectionMetadata = "portcullis.connection";

    public static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Build(PortcullisConfig config)
    {
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        foreach (var (name, connection) in config.Connections.Where(c => c.Value.Kind == "http"))
        {
            if (!Uri.TryCreate(connection.Upstream, UriKind.Absolute, out var upstream) || upstream.Scheme is not ("http" or "https"))
                throw new InvalidOperationException($"connections.{name}.upstream must be an absolute http(s) URL.");
            routes.Add(new RouteConfig
            {
                RouteId = $"http-{name}",
                ClusterId = name,
                AuthorizationPolicy = "default",
                Match = new RouteMatch { Path = $"/http/{name}/{{**path}}" },
                Metadata = new Dictionary<string, string> { [ConnectionMetadata] = name },
            });
            clusters.Add(new ClusterConfig
            {
                ClusterId = name,
                Destinations = new Dictionary<string, DestinationConfig> { ["upstream"] = new() { Address = upstream.ToString() } },
            });
        }
        return (routes, clusters);
    }

    /// <summary>
    /// Request headers that common frameworks and proxies read as "this request is really another method, path,
    /// host or client" (X-HTTP-Method-Override, X-Original-URL, X-Rewrite-URL, Forwarded, X-Forwarded-*, ...),
    /// by family rather than by a short list of names. YARP adds its own X-Forwarded-* after this removal.
    /// </summary>
    public static bool IsRequestRewritingHeader(string name)
    {
        var header = name.ToLowerInvariant();
        return header.Contains("override", StringComparison.Ordinal) || header.Contains("original", StringComparison.Ordinal)
            || header.Contains("rewrite", StringComparison.Ordinal) || header.Contains("method", StringComparison.Ordinal)
            || header.StartsWith("x-forwarded", StringComparison.Ordinal) || header.StartsWith("x-envoy-", StringComparison.Ordinal)
            || header.StartsWith("x-middleware-", StringComparison.Ordinal)
            || header is "forwarded" or "x-real-ip" or "x-client-ip" or "true-client-ip" or "client-ip" or "x-host"
                or "x-remote-ip" or "x-remote-addr" or "x-originating-ip" or "x-cluster-client-ip" or "x-proxyuser-ip"
                or "x-custom-ip-authorization" or "x-url" or "x-request-uri" or "x-server-name" or "x-backend-host";
    }

    /// <summary>The same transforms on every connection route, in code so configuration cannot weaken them.</summary>
    public static void AddTransforms(TransformBuilderContext context)
    {
        if (context.Route.Metadata?.TryGetValue(ConnectionMetadata, out var name) != true || name is null) return;
        // The upstream gets exactly the target the policy judged (AgentRequestGuard made it canonical).
        context.AddRequestTransform(transform =>
        {
            if (transform.HttpContext.Items[CanonicalTarget.ItemKey] is not CanonicalTarget target)
                throw new InvalidOperationException("No canonical target was judged for this request; nothing is forwarded.");
            transform.ProxyRequest.RequestUri = target.ForwardUri(transform.DestinationPrefix);
            // Headers that make a framework execute another method or path than the one judged, or trust a
            // client address or host the agent made up, never reach the upstream.
            foreach (var header in transform.ProxyRequest.Headers.Select(h => h.Key).Where(IsRequestRewritingHeader).ToArray())
                transform.ProxyRequest.Headers.Remove(header);
            return ValueTask.CompletedTask;
        });
        // The agent's token and session are for the gateway; upstream credentials are the gateway's to add.
        context.AddRequestHeaderRemove("Authorization");
        context.AddRequestHeaderRemove("Cookie");
        context.AddRequestHeaderRemove(Sessions.SessionResolver.SessionHeader);
        context.AddRequestHeaderRemove(Approvals.ApprovalGate.Header);
        // Bodies come back uncompressed so they can be masked.
        context.AddRequestHeaderRemove("Accept-Encoding");
        // Upstream credentials come from the gateway's secrets, replacing anything the agent sent under that name.
        var headers = context.Services.GetRequiredService<PortcullisConfig>().Connections[name].Headers;
        if (headers.Count > 0)
        {
            var secrets = context.Services.GetRequiredService<SecretResolver>();
            context.AddRequestTransform(async transform =>
            {
                foreach (var (header, value) in headers)
                {
                    transform.ProxyRequest.Headers.Remove(header);
                    transform.ProxyRequest.Headers.TryAddWithoutValidation(header,
                        await secrets.ResolveAsync(value, transform.HttpContext.RequestAborted));
                }
            });
        }
        var masking = context.Services.GetRequiredService<ResponseMaskingTransform>();
        context.AddResponseTransform(masking.Apply);
    }
}
