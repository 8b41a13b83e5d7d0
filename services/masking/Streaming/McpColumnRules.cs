using System.Text.Json;
using System.Text.Json.Nodes;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Values;

namespace Portcullis.Masking.Streaming;

/// <summary>
/// Column rules for an MCP tool's SQL rows: the upstream (such as @modelcontextprotocol/server-postgres) returns them
/// as JSON text, an array of row objects (or an object with <c>rows</c>), without column origins. The policy service
/// knows them from the statement it judged (output name to the masked columns it may hold), and this masks the values
/// under those keys by the column rules, before the detectors see everything as usual. A name with several candidate
/// rules gets the strictest; a text that is not such rows cannot be masked by column, so the result is refused (fail closed).
/// </summary>
public static class McpColumnRules
{
    public static byte[] Apply(MaskingPolicy policy, string connection, byte[] body,
        IReadOnlyDictionary<string, IReadOnlyList<string>> origins, MaskingTally tally)
    {
        // Output name -> the rule that masks it (the strictest of the candidates); names no rule masks are left to the detectors.
        var rules = origins.Select(o => (Name: o.Key, Rule: Strictest(policy.Rules.Where(r => r.AppliesTo(connection)
                && o.Value.Any(r.MatchesColumn)))))
            .Where(o => o.Rule is not null).ToDictionary(o => o.Name, o => o.Rule!, StringComparer.Ordinal);
        if (rules.Count == 0) return body;

        var result = JsonNode.Parse(body) as JsonObject
            ?? throw new UnmaskableContentException("MCP tool result (not a JSON object)");
        // The column rules know where the rows stand only in text blocks: rows anywhere else (structured content, a
        // resource block, a content that is not a list) would reach the agent past them, with only the detectors to see.
        if (result["structuredContent"] is not null)
            throw new UnmaskableContentException("MCP tool result with structured content, with masked columns");
        if (result["_meta"] is not null)
            throw new UnmaskableContentException("MCP tool result with _meta, with masked columns");
        if (result["content"] is not JsonArray content)
            return result["content"] is null ? body
                : throw new UnmaskableContentException("MCP tool result whose content is not a list, with masked columns");
        foreach (var item in content)
        {
            if (item is not JsonObject block || block["type"] is not JsonValue { } type || type.GetValueKind() != JsonValueKind.String
                || type.GetValue<string>() != "text" || block["text"] is not JsonValue { } textValue || textValue.GetValueKind() != JsonValueKind.String)
                throw new UnmaskableContentException("MCP tool result with a content block other than text, with masked columns");
            // A text block's own _meta (or any member but its type, text and annotations) is one more place for rows.
            if (block.Any(member => member.Key is not ("type" or "text" or "annotations")))
                throw new UnmaskableContentException("MCP tool result with a text block that carries more than its text, with masked columns");
            var text = textValue.GetValue<string>();
            JsonNode? rows;
            try
            {
                rows = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                throw new UnmaskableContentException("MCP tool result whose text is not JSON rows, with masked columns");
            }
            var list = rows as JsonArray ?? (rows as JsonObject)?["rows"] as JsonArray
                ?? throw new UnmaskableContentException("MCP tool result whose text is not JSON rows, with masked columns");
            // Beside the rows of an object, only counts and flags: a text, list or object there is rows the rules do not see.
            if (rows is JsonObject wrapper && wrapper.Any(member => member.Key != "rows"
                    && member.Value?.GetValueKind() is JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Object))
                throw new UnmaskableContentException("MCP tool result whose rows stand beside other texts or objects, with masked columns");
            foreach (var row in list)
            {
                if (row is not JsonObject columns)
                    throw new UnmaskableContentException("MCP tool result whose rows are not JSON objects, with masked columns");
                foreach (var (name, rule) in rules)
                {
                    if (!columns.TryGetPropertyValue(name, out var value) || value is null) continue;
                    var raw = value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString();
                    var masked = policy.Strategies.Apply(rule.Strategy, rule.Entity, raw, rule.Keep ?? policy.Keep);
                    columns[name] = masked is null ? null : JsonValue.Create(masked);
                    tally.Add(rule.Entity, $"rule:{rule.Id}");
                }
            }
            block["text"] = rows!.ToJsonString();
        }
        return JsonSerializer.SerializeToUtf8Bytes(result);
    }

    /// <summary>The rule that reveals least: nothing (null), then a tag, then a keyed hash, then the last characters.</summary>
    private static CompiledMaskingRule? Strictest(IEnumerable<CompiledMaskingRule> candidates) =>
        candidates.OrderBy(r => r.Strategy switch
        {
            MaskingStrategy.Null => 0,
            MaskingStrategy.Redact => 1,
            MaskingStrategy.Hash => 2,
            _ => 3,
        }).ThenBy(r => r.Keep ?? int.MaxValue).FirstOrDefault();
}
