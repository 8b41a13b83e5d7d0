using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Portcullis.Gateway.Connectors.Http;

/// <summary>
/// What an agent's request may carry besides its target, checked before anything is judged: a protocol switch
/// (Upgrade, h2c) would turn the exchange into a stream that masking never sees; a header named in Connection is
/// one the agent asks the gateway to drop, which the gateway does not do for it (its own credential and removals are
/// not the agent's to steer); a body on GET or HEAD is one the policy, which judges the method and path, never reads
/// while some upstreams do (search APIs take a query in a GET body). Each is refused with a reason.
/// </summary>
public static class RequestFraming
{
    /// <summary>Connection options that only say how the agent's own connection lives; any other is refused.</summary>
    private static readonly HashSet<string> ConnectionOptions = new(StringComparer.OrdinalIgnoreCase) { "keep-alive", "close" };

    public static string? Problem(string method, IHeaderDictionary headers, bool hasBody)
    {
        if (headers.ContainsKey("Upgrade") || headers.ContainsKey("HTTP2-Settings"))
            return "The request asks to switch protocols (Upgrade, h2c); an upgraded stream would bypass masking, so it is not forwarded.";
        foreach (var value in headers.Connection)
        {
            foreach (var token in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!ConnectionOptions.Contains(token))
                    return $"The Connection header names '{token}'; only 'keep-alive' and 'close' are accepted (headers named there " +
                           "would be dropped on the way, and an upgrade would bypass masking).";
            }
        }
        if (hasBody && (HttpMethods.IsGet(method) || HttpMethods.IsHead(method)))
            return $"A {method.ToUpperInvariant()} request with a body is not forwarded: the policy judges the method and path, " +
                   "and some upstreams read a body even on " + method.ToUpperInvariant() + ".";
        return null;
    }

    /// <summary>
    /// Whether the request carries a body, however it is framed: a Content-Length above 0, chunked, or (HTTP/2 and 3,
    /// where neither is needed) a stream the agent left open for data.
    /// </summary>
    public static bool HasBody(HttpRequest request) =>
        request.ContentLength > 0 || request.Headers.ContainsKey("Transfer-Encoding")
        || (request.ContentLength is null && request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true);
}
