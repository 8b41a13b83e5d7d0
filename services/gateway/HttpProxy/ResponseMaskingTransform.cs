using Microsoft.Extensions.Options;
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
        if (upstream.Content.Headers.ContentEncoding.Count > 0)
        {
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway,
                "The upstream answer is compressed and cannot be masked, so it is withheld.");
            return;
        }

        if (await flow.MaskAsync(http, request, upstream.Content.Headers.ContentType?.ToString() ?? "", body, withResponseHeaders: true))
        {
            var headers = http.Response.Headers;
            headers.ContentLength = request.Output!.Length;
            headers.Remove("Content-MD5");
            headers.ETag = default; // the upstream's tag names the unmasked body
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
