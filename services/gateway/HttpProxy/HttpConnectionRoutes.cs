using Portcullis.Defaults.Configuration;
using Yarp.ReverseProxy.Configuration;

namespace Portcullis.Gateway.HttpProxy;

/// <summary>
/// YARP routes and clusters for the http connections of portcullis.yaml: <c>/http/{name}/{**path}</c> goes
/// to the connection's upstream and nowhere else (the agent never names a host).
/// </summary>
public static class HttpConnectionRoutes
{
    public const string ConnectionMetadata = "portcullis.connection";

    /// <summary>The route of an http connection (MCP's http_request goes through it in process).</summary>
    public static string RouteId(string connection) => $"http-{connection}";

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
                RouteId = RouteId(name),
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
}
