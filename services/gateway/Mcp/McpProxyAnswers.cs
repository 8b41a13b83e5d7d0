using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// The answer to a proxied MCP tool call: the upstream's result as masking left it, or, for a refusal, pending
/// approval or failure, the same tool error as for the gateway's own tools.
/// </summary>
public static class McpProxyAnswers
{
    public static CallToolResult Answer(string tool, ToolResponse response)
    {
        if (response.Status != StatusCodes.Status200OK || response.MediaType != "application/json")
            return McpToolAnswers.Answer(tool, response);
        try
        {
            return JsonSerializer.Deserialize<CallToolResult>(response.Body, McpJsonUtilities.DefaultOptions)
                   ?? throw new JsonException("null result");
        }
        catch (JsonException)
        {
            // Masking changed what the result's form needs (or it was never one): say so, and pass nothing on.
            return McpToolAnswers.Failure("The MCP server's result could not be read back after masking; it is withheld.");
        }
    }

    /// <summary>
    /// The answer to a resource read or prompt get: the upstream's result as masking left it, or, since these have no
    /// error result, a protocol error with the same text a tool error would carry (which rule refused, how to retry).
    /// </summary>
    public static T Read<T>(string name, ToolResponse response, string retry, string approvalIdWhere) where T : class
    {
        if (response.Status == StatusCodes.Status200OK && response.MediaType == "application/json")
        {
            try
            {
                return JsonSerializer.Deserialize<T>(response.Body, McpJsonUtilities.DefaultOptions) ?? throw new JsonException("null result");
            }
            catch (JsonException)
            {
                throw new McpProtocolException("The MCP server's result could not be read back after masking; it is withheld.",
                    McpErrorCode.InternalError);
            }
        }
        var refusal = McpToolAnswers.Answer(name, response).Content.OfType<TextContentBlock>().First().Text;
        // The tool's wording of a pending approval, said for a read: how to claim the approval.
        refusal = refusal.Replace($"Call {name} again with the same arguments and", $"{char.ToUpperInvariant(retry[0])}{retry[1..]} with", StringComparison.Ordinal)
            .Replace("\"approval_id\": ", $"\"approval_id\" {approvalIdWhere}: ", StringComparison.Ordinal);
        throw new McpProtocolException(refusal, response.Status is StatusCodes.Status202Accepted or StatusCodes.Status403Forbidden
            ? McpErrorCode.InvalidRequest : McpErrorCode.InternalError);
    }
}
