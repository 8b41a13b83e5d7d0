using System.Text.Json;
using Microsoft.AspNetCore.Mvc;

namespace Portcullis.Gateway.Problems;

/// <summary>
/// The problem documents (RFC 9457) the gateway answers with, whoever answers: the request flow, the session
/// ledger, the recording monitor, a connector's error. Below every feature, so each can refuse in the same form.
/// </summary>
public static class ProblemDocument
{
    private const string ProblemBase = "https://portcullis.dev/problems/";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>A problem document as bytes; connectors use it for outputs that are masked before they are sent.</summary>
    public static byte[] Bytes(HttpContext context, int status, string type, string title, string detail,
        Dictionary<string, object?> extensions)
    {
        var problem = new ProblemDetails
        {
            Type = ProblemBase + type,
            Title = title,
            Status = status,
            Detail = detail,
            Instance = context.Request.Path,
        };
        foreach (var (key, value) in extensions) problem.Extensions[key] = value;
        return JsonSerializer.SerializeToUtf8Bytes(problem, Json);
    }

    /// <summary>Writes a refusal at once, for what never became a request (nothing of it is recorded or masked).</summary>
    public static async Task WriteAsync(HttpContext context, int status, string type, string title, string detail)
    {
        var body = Bytes(context, status, type, title, detail, []);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }
}
