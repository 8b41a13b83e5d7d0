using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Yarp.ReverseProxy.Transforms;

namespace Portcullis.Gateway.Pipeline;

/// <summary>
/// Holds back every upstream body, has it masked by the masking service, and sends the agent only the
/// masked form. When the body cannot be masked (too large, compressed, an unknown type, masking silent or
/// failing), the agent gets a refusal and none of the body.
/// </summary>
public sealed class ResponseMaskingTransform(
    IOptions<GatewayOptions> options,
    AgentResponses responses,
    TimeProvider clock,
    ILogger<ResponseMaskingTransform> logger)
{
    public async ValueTask Apply(ResponseTransformContext context)
    {
        var http = context.HttpContext;
        if (context.ProxyResponse is not { } upstream || http.Features.Get<AgentRequest>() is not { } request)
            return; // the forward failed: the guard answers
        context.SuppressResponseBody = true;
        var services = http.RequestServices;
        var settings = options.Value;

        var body = await ReadCapped(upstream.Content, settings.MaxResponseBytes, context.CancellationToken);
        await services.GetRequiredService<IPublishEndpoint>().Publish(new RequestForwarded(
            request.RequestId, request.SessionId, request.Action.Connection,
            upstream.RequestMessage?.RequestUri?.GetLeftPart(UriPartial.Authority) ?? "",
            (int)upstream.StatusCode, body?.LongLength ?? -1, request.ElapsedMs, clock.GetUtcNow()), context.CancellationToken);

        if (body is null)
        {
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway,
                $"The upstream answer is larger than {settings.MaxResponseBytes} bytes and cannot be masked, so it is withheld.");
            return;
        }
        if (upstream.Content.Headers.ContentEncoding.Count > 0)
        {
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway,
                "The upstream answer is compressed and cannot be masked, so it is withheld.");
            return;
        }

        var contentType = upstream.Content.Headers.ContentType?.ToString() ?? "";
        var masking = services.GetRequiredService<IRequestClient<MaskContent>>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken);
        deadline.CancelAfter(settings.MaskingTimeout);
        ContentMasked masked;
        try
        {
            var response = await masking.GetResponse<ContentMasked>(
                new MaskContent(request.RequestId, request.SessionId, request.Action.Connection, contentType, body),
                deadline.Token, RequestTimeout.After(ms: (int)settings.MaskingTimeout.TotalMilliseconds));
            masked = response.Message;
        }
        catch (RequestFaultException ex)
        {
            logger.LogWarning("Request {RequestId}: masking refused the output ({Fault})", request.RequestId,
                ex.Fault?.Exceptions.FirstOrDefault()?.ExceptionType);
            responses.UpstreamFailed(http, request, StatusCodes.Status502BadGateway,
                $"The upstream answer (content type '{contentType}') could not be masked, so it is withheld.");
            return;
        }
        catch (Exception ex) when (ex is RequestTimeoutException or OperationCanceledException or MassTransitException)
        {
            logger.LogWarning("Request {RequestId}: masking did not answer ({Reason})", request.RequestId, ex.GetType().Name);
            responses.Unavailable(http, request, "The masking service did not answer within the deadline.");
            return;
        }

        var headers = http.Response.Headers;
        headers.ContentLength = masked.Body.Length;
        headers.Remove("Content-MD5");
        headers.ETag = default; // the upstream's tag names the unmasked body
        request.Output = masked.Body; // delivered by the guard once its completion is recorded
        request.OutputContentType = contentType;
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
