using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace Portcullis.Gateway.Mcp;

/// <summary>What the request flow answered a tool call: its status, media type, Retry-After and body (masked).</summary>
public sealed record ToolResponse(int Status, string? MediaType, int? RetryAfterSeconds, string Body);

/// <summary>
/// A tool result from the gateway's answer: the masked output, or a refusal an agent can act on (which rule
/// refused and why, or how to retry a pending approval).
/// </summary>
public static class McpToolAnswers
{
    public static CallToolResult Answer(string tool, ToolResponse response)
    {
        var (status, body) = (response.Status, response.Body);
        JsonElement? problem = response.MediaType is "application/problem+json" or "application/json"
                               && body.StartsWith('{') ? TryParse(body) : null;
        string? Field(string name) => problem is { } p && p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        if (status == StatusCodes.Status202Accepted && Field("approvalId") is { } approvalId)
            return Failure($"Approval pending (approval id {approvalId}): {Field("detail")?.Split(" Re-send")[0]} " +
                           $"Nothing ran yet. Call {tool} again with the same arguments and \"approval_id\": \"{approvalId}\" after " +
                           $"{response.RetryAfterSeconds ?? 10} seconds; it runs once an approver grants it.", body);
        if (problem is not null && Field("type")?.StartsWith("https://portcullis.dev/problems/", StringComparison.Ordinal) == true)
        {
            var rule = Field("rule");
            var text = Field("type")!.EndsWith("/denied", StringComparison.Ordinal)
                ? $"Denied by policy rule '{rule}': {Field("detail")} The action was not run; choose another approach."
                : $"{Field("title")} ({status}){(rule is null ? "" : $", rule '{rule}'")}: {Field("detail")}";
            return Failure(text, body);
        }
        if (tool == McpToolCatalog.HttpRequest)
        {
            var text = $"HTTP {status} {response.MediaType}\n\n{body}";
            return status < 400 ? Success(text) : Failure(text);
        }
        return status < 400 ? Success(body) : Failure($"Error {status}: {body}");
    }

    public static CallToolResult Success(string text) => new() { Content = [new TextContentBlock { Text = text }] };

    public static CallToolResult Failure(string text, string? detail = null) => new()
    {
        IsError = true,
        Content = detail is null
            ? [new TextContentBlock { Text = text }]
            : [new TextContentBlock { Text = text }, new TextContentBlock { Text = detail }],
    };

    private static JsonElement? TryParse(string body)
    {
        try { return JsonDocument.Parse(body).RootElement.Clone(); }
        catch (JsonException) { return null; }
    }
}
