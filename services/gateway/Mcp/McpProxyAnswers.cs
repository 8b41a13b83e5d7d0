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
}
