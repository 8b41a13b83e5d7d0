namespace Portcullis.Gateway.Connectors.Http;

/// <summary>
/// Request headers that common frameworks and proxies read as "this request is really another method, path,
/// host or client" (X-HTTP-Method-Override, X-Original-URL, X-Rewrite-URL, Forwarded, X-Forwarded-*, ...),
/// by family rather than by a short list of names.
/// </summary>
public static class RequestRewritingHeaders
{
    public static bool Contains(string name)
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
}
