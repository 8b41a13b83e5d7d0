using Microsoft.Extensions.Options;
using Portcullis.Gateway.Connectors.Http;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.HttpProxy;

/// <summary>
/// Holds back every upstream body of an http connection and has the request flow mask it; the agent is sent
/// only the masked form. A body that cannot be masked (too large, compressed, an unknown type, masking silent
/// or failing) becomes a refusal, and none of it is sent.
/// </summary>
public sealed class ResponseMaskingTransform(IOptions<GatewayOptions> options, AgentRequestFlow flow, AgentResponses responses)
{
    public async ValueTask Apply(ResponseTransformContext context)
    {
        var http = context.HttpContext;
        if (context.ProxyResponse is not { } upstream || http.Features.Get<AgentRequest>() is not { } request)
            return; // the forward failed: the guard answers
        context.SuppressResponseBody = true;
        var limit = options.Value.MaxResponseBytes;

        var body = await ReadCapped(upstream.Content, limit, context.CancellationToken);
        request.UpstreamAnswered();
        // Recorded while the body is masked; confirmed before the request completes.
        var forwarded = flow.ForwardedAsync(http, request, upstream.RequestMessage?.RequestUri?.GetLeftPart(UriPartial.Authority) ?? "",
            (int)upstream.StatusCode, body?.LongLength ?? -1);
        try
        {
            await MaskOrWithhold(http, request, upstream, body, limit);
        }
        finally
        {
            await flow.ForwardRecordedAsync(http, request, forwarded);
        }
    }

    private async Task MaskOrWithhold(HttpContext http, AgentRequest request, HttpResponseMessage upstream, byte[]? body, int limit)
    {
        if (body is null)
        {
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway,
                $"The upstream answer is larger than {limit} bytes and cannot be masked, so it is withheld.");
            return;
        }
        if (UpstreamAnswer.Problem(upstream) is { } unreadable)
        {
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway, unreadable);
            return;
        }
        var headers = http.Response.Headers;
        if (http.Items[UpstreamCredentials.ItemKey] is IReadOnlyList<string> credentials
            && UpstreamCredentials.Echoed(credentials, body, headers.SelectMany(h => h.Value).Select(v => v ?? "")))
        {
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway,
                "The upstream answer carries the credential the gateway sent it, so it is withheld.");
            return;
        }
        RewriteLinks(http, request, upstream);

        var contentType = upstream.Content.Headers.ContentType?.ToString() ?? "";
        if (await flow.MaskAsync(http, request, UpstreamAnswer.MaskAs(contentType, body), body, withResponseHeaders: true))
        {
            request.OutputContentType = contentType;
            headers.ContentLength = request.Output!.Length;
            headers.Remove("Content-MD5");
            headers.ETag = default; // the upstream's tag names the unmasked body
        }
    }

    /// <summary>
    /// Location and Content-Location lead back through this connection, or are dropped; so is a Refresh that leads
    /// elsewhere. The gateway never follows a redirect itself (YARP's client does not), so the agent's next request is
    /// judged on its own.
    /// </summary>
    private static void RewriteLinks(HttpContext http, AgentRequest request, HttpResponseMessage upstream)
    {
        var headers = http.Response.Headers;
        if (!(headers.ContainsKey("Location") || headers.ContainsKey("Content-Location") || headers.ContainsKey("Refresh"))) return;
        var requested = upstream.RequestMessage?.RequestUri;
        var address = http.GetReverseProxyFeature().ProxiedDestination?.Model.Config.Address;
        var gatewayPrefix = $"{http.Request.PathBase}/http/{request.Action.Connection}";
        foreach (var name in new[] { "Location", "Content-Location", "Refresh" })
        {
            if (!headers.TryGetValue(name, out var values)) continue;
            headers.Remove(name);
            if (requested is null || !Uri.TryCreate(address, UriKind.Absolute, out var upstreamBase) || values.Count != 1) continue;
            var rewritten = name == "Refresh"
                ? UpstreamAnswer.RewriteRefresh(values[0] ?? "", requested, upstreamBase, gatewayPrefix)
                : UpstreamAnswer.Rewrite(values[0] ?? "", requested, upstreamBase, gatewayPrefix);
            if (rewritten is not null) headers[name] = rewritten;
        }
    }

    /// <summary>The whole body, or null when it is larger than <paramref name="limit"/>.</summary>
    private static async Task<byte[]?> ReadCapped(HttpContent content, int limit, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > limit) return null;
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit) return null;
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }
}
