using System.Text.Json;
using System.Text.RegularExpressions;
using ModelContextProtocol.Protocol;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>
/// What the gateway takes from an upstream's tool list, whose author it does not trust: names as the MCP
/// specification allows them (1 to 128 of A-Z a-z 0-9 _ - . /, so no Unicode lookalike of another name), and still a
/// valid name once listed as <c>{connection}.{tool}</c>; each offered once, in any casing (two definitions under one
/// name, or under names an agent or client that folds case would take for one, leave the name out: which one would
/// run?); at most <see cref="MaxTools"/> per upstream; descriptions cut at <see cref="MaxDescription"/> characters (a
/// description is text the agent reads as instructions).
/// </summary>
public static partial class McpToolOffer
{
    public const int MaxTools = 500;
    public const int MaxDescription = 4096;

    /// <summary>The tools fit to list, and why each other one was left out.</summary>
    public static (IReadOnlyList<Tool> Offered, IReadOnlyList<string> LeftOut) Sift(IReadOnlyList<Tool> tools, string? connection = null)
    {
        var leftOut = new List<string>();
        var duplicated = tools.GroupBy(t => t.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var offered = new List<Tool>();
        foreach (var tool in tools)
        {
            if (!ValidName().IsMatch(tool.Name)) leftOut.Add($"a tool whose name is not a valid MCP tool name ({tool.Name.Length} characters)");
            else if (connection is not null && !ValidName().IsMatch($"{connection}{McpConnection.ToolSeparator}{tool.Name}"))
                leftOut.Add($"a tool whose name is too long to list under its connection ({tool.Name.Length} characters)");
            else if (duplicated.Contains(tool.Name)) leftOut.Add($"'{tool.Name}': offered more than once (in any casing)");
            else if (offered.Count >= MaxTools) leftOut.Add($"'{tool.Name}': more than {MaxTools} tools");
            else offered.Add(tool);
        }
        return (offered, leftOut);
    }

    public static string? Description(string? description) =>
        description is { Length: > MaxDescription } ? description[..MaxDescription] + " [cut by the gateway]" : description;

    /// <summary>
    /// Why <paramref name="arguments"/> do not fit the tool's input schema at its top level (required properties,
    /// no others when it says <c>additionalProperties: false</c>, each property's JSON type), or null.
    /// </summary>
    public static string? ArgumentProblem(JsonElement schema, IReadOnlyDictionary<string, JsonElement> arguments)
    {
        if (schema.ValueKind != JsonValueKind.Object) return null;
        var properties = schema.TryGetProperty("properties", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        if (schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array)
            foreach (var name in required.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.String).Select(r => r.GetString()!))
                if (!arguments.ContainsKey(name)) return $"'{name}' is required.";
        var closed = schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.False;
        foreach (var (name, value) in arguments)
        {
            if (properties.ValueKind != JsonValueKind.Object || !properties.TryGetProperty(name, out var property))
            {
                if (closed) return $"'{name}' is not an argument of this tool.";
                continue;
            }
            if (property.ValueKind == JsonValueKind.Object && property.TryGetProperty("type", out var type) && !Fits(type, value))
                return $"'{name}' must be {type.GetRawText().Trim('"')}.";
        }
        return null;
    }

    private static bool Fits(JsonElement type, JsonElement value) => type.ValueKind switch
    {
        JsonValueKind.String => Fits(type.GetString()!, value),
        JsonValueKind.Array => type.EnumerateArray().Any(t => t.ValueKind == JsonValueKind.String && Fits(t.GetString()!, value)),
        _ => true,
    };

    private static bool Fits(string type, JsonElement value) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => true,
    };

    [GeneratedRegex("^[A-Za-z0-9_./-]{1,128}$")]
    private static partial Regex ValidName();
}
