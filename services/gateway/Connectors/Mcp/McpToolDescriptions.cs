using System.Text.RegularExpressions;
using ModelContextProtocol.Protocol;

namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>
/// Tool descriptions that read like instructions to the agent rather than a description of the tool ("tool
/// poisoning"): telling it to ignore what it was told, to keep something from the user, to act before using the tool,
/// or naming credential files. Such a tool is held at first sight until an admin accepts it (<see cref="McpToolPins"/>).
/// A heuristic for what an admin should read, not a filter that makes a description safe.
/// </summary>
public static partial class McpToolDescriptions
{
    /// <summary>What makes the tool's description suspect (its description and its schema's texts), or null.</summary>
    public static string? Suspicion(Tool tool)
    {
        var text = $"{tool.Title}\n{tool.Description}\n{tool.InputSchema.GetRawText()}";
        try
        {
            return Instructions().Match(text) is { Success: true } found
                ? $"reads like instructions to the agent (\"{(found.Value.Length > 60 ? found.Value[..60] : found.Value)}\")"
                : null;
        }
        catch (RegexMatchTimeoutException)
        {
            return "could not be read for instructions to the agent in time";
        }
    }

    [GeneratedRegex(@"ignore\s+(all\s+|any\s+|the\s+)?(previous|prior|above|earlier|other)\s+(instructions|prompts|messages|rules)"
        + @"|<\s*(important|system|instructions?)\s*>"
        + @"|do\s+not\s+(tell|mention|inform|reveal|show)\b[^.\n]{0,40}\buser"
        + @"|without\s+(telling|informing|asking)\s+the\s+user"
        + @"|before\s+(using|calling|invoking)\s+(this|any|the)\b[^.\n]{0,30}\btool[^.\n]{0,40}\b(read|send|pass|call|include)"
        + @"|system\s+prompt"
        + @"|id_rsa|id_ed25519|\.ssh/|\.aws/credentials|/etc/shadow",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 200)]
    private static partial Regex Instructions();
}
