using Microsoft.Extensions.Options;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.Apis;

/// <summary>
/// <c>GET /approvals/{id}</c> on the gateway, the status URL agents are given with a 202: answered by the
/// approval service with the caller's own token, so an agent sees only its own approvals.
/// </summary>
public static class ApprovalStatusApi
{
    public static IEndpointRouteBuilder MapApprovalStatusApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/approvals/{id:guid}", async (Guid id, HttpContext context, IHttpClientFactory http,
            IOptions<GatewayOptions> options) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get,
                $"{options.Value.ApprovalServiceUrl.TrimEnd('/')}/approvals/{id}");
            request.Headers.TryAddWithoutValidation("Authorization", context.Request.Headers.Authorization.ToString());
            try
            {
                using var response = await http.CreateClient(nameof(ApprovalStatusApi)).SendAsync(request, context.RequestAborted);
                context.Response.StatusCode = (int)response.StatusCode;
                context.Response.ContentType = response.Content.Headers.ContentType?.ToString() ?? "application/json";
                await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
            }
            catch (HttpRequestException)
            {
                await Results.Problem(statusCode: 503, title: "Approval service unavailable",
                    detail: "The approval service did not answer; retry later.").ExecuteAsync(context);
            }
        }).RequireAuthorization();
        return app;
    }
}
