using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Portcullis.Masking.Rules;

namespace Portcullis.Masking;

/// <summary>
/// Masks an output by its content type. JSON is masked token by token: values at a rule's JSON path (or, in
/// SQL results, in a rule's column) are masked whole; every other string, number and property name goes
/// through the detectors. Text is masked as text. Anything else cannot be inspected and is refused.
/// </summary>
public sealed class ContentMasker(MaskingPolicy policy)
{
    /// <summary>The gateway's SQL results: {"results": [{"columns": [{"origin"}], "rows": [[...]]}]}.</summary>
    public const string SqlResultsType = "application/vnd.portcullis.sql+json";

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // The output is read by agents, not embedded in HTML: keep '+', quotes in text and non-ASCII readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public byte[] Mask(string connection, string contentType, ReadOnlySpan<byte> body, MaskingTally tally)
    {
        var type = MediaType(contentType);
        var isJson = type == "application/json" || type.EndsWith("+json", StringComparison.Ordinal);
        if (isJson)
        {
            var masked = TryMaskJson(connection, body, type == SqlResultsType, tally);
            if (masked is not null) return masked;
            // Not valid JSON after all: it is still text, and still masked as text.
        }
        if (isJson || IsText(type) || type.Length == 0)
            return Encoding.UTF8.GetBytes(MaskText(Encoding.UTF8.GetString(body), tally) ?? "");
        throw new UnmaskableContentException(contentType);
    }

    /// <summary>Masks what the detectors find; null when a finding's strategy is null (the value goes).</summary>
    public string? MaskText(string text, MaskingTally tally)
    {
        var dropped = false;
        var masked = policy.Detectors.Mask(text, (finding, value) =>
        {
            tally.Add(finding.Entity, $"detector:{finding.Entity.ToLowerInvariant()}");
            var replacement = policy.Strategies.Apply(policy.StrategyFor(finding.Entity), finding.Entity, value, policy.Keep);
            dropped |= replacement is null;
            return replacement ?? "";
        });
        return dropped ? null : masked ?? text;
    }

    private byte[]? TryMaskJson(string connection, ReadOnlySpan<byte> body, bool sqlResults, MaskingTally tally)
    {
        var rules = policy.Rules.Where(r => r.AppliesTo(connection)).ToArray();
        var output = new ArrayBufferWriter<byte>(body.Length + 256);
        var local = new MaskingTally();
        var path = new List<PathItem>();
        var containers = new List<(bool IsArray, int Next, bool HasItem)>();
        string? pendingName = null;
        var origins = new Dictionary<(int Result, int Column), string>();
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            using var writer = new Utf8JsonWriter(output, WriterOptions);
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        pendingName = reader.GetString()!;
                        writer.WritePropertyName(MaskText(pendingName, local) ?? "");
                        continue;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        if (containers[^1].HasItem) path.RemoveAt(path.Count - 1);
                        containers.RemoveAt(containers.Count - 1);
                        if (reader.TokenType == JsonTokenType.EndObject) writer.WriteEndObject(); else writer.WriteEndArray();
                        continue;
                }

                // A value: where it stands, and whether a rule masks it whole.
                var hasItem = containers.Count > 0;
                if (hasItem)
                {
                    var (isArray, next, item) = containers[^1];
                    path.Add(isArray ? PathItem.Element(next) : PathItem.Property(pendingName!));
                    containers[^1] = (isArray, next + 1, item);
                }
                var rule = RuleFor(rules, path, sqlResults, origins);
                if (rule is not null)
                {
                    WriteMasked(writer, ref reader, rule, local);
                    if (hasItem) path.RemoveAt(path.Count - 1);
                    continue;
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                    case JsonTokenType.StartArray:
                        containers.Add((reader.TokenType == JsonTokenType.StartArray, 0, hasItem));
                        if (reader.TokenType == JsonTokenType.StartObject) writer.WriteStartObject(); else writer.WriteStartArray();
                        continue; // the path item stays until the container ends
                    case JsonTokenType.String:
                        var text = reader.GetString()!;
                        if (sqlResults && IsOriginPath(path, out var result, out var column)) origins[(result, column)] = text;
                        if (MaskText(text, local) is { } masked) writer.WriteStringValue(masked); else writer.WriteNullValue();
                        break;
                    case JsonTokenType.Number:
                        // A number can be a card or an account: masked numbers become strings.
                        var raw = Encoding.UTF8.GetString(reader.ValueSpan);
                        var maskedNumber = MaskText(raw, local);
                        if (maskedNumber == raw) writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                        else if (maskedNumber is null) writer.WriteNullValue();
                        else writer.WriteStringValue(maskedNumber);
                        break;
                    case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                    case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                    case JsonTokenType.Null: writer.WriteNullValue(); break;
                }
                if (hasItem) path.RemoveAt(path.Count - 1);
            }
            writer.Flush();
        }
        catch (JsonException)
        {
            return null;
        }
        tally.AddAll(local);
        return output.WrittenSpan.ToArray();
    }

    private static CompiledMaskingRule? RuleFor(CompiledMaskingRule[] rules, List<PathItem> path, bool sqlResults,
        Dictionary<(int, int), string> origins)
    {
        if (rules.Length == 0) return null;
        string? origin = null;
        if (sqlResults && path.Count == 5 && path[0].Name == "results" && path[2].Name == "rows" && path[4].Index >= 0)
            origins.TryGetValue((path[1].Index, path[4].Index), out origin);
        foreach (var rule in rules)
            if (rule.MatchesPath(path) || (origin is not null && rule.MatchesColumn(origin))) return rule;
        return null;
    }

    private static bool IsOriginPath(List<PathItem> path, out int result, out int column)
    {
        (result, column) = (-1, -1);
        if (path.Count != 5 || path[0].Name != "results" || path[2].Name != "columns" || path[4].Name != "origin") return false;
        (result, column) = (path[1].Index, path[3].Index);
        return true;
    }

    /// <summary>Masks a whole value (a container too) by a rule's strategy.</summary>
    private void WriteMasked(Utf8JsonWriter writer, ref Utf8JsonReader reader, CompiledMaskingRule rule, MaskingTally tally)
    {
        string value;
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
        {
            var start = reader.TokenStartIndex;
            reader.Skip();
            value = $"{start}:{reader.TokenStartIndex}"; // a container has no text to keep part of
        }
        else
        {
            value = reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(reader.ValueSpan);
        }
        if (reader.TokenType == JsonTokenType.Null) { writer.WriteNullValue(); return; }
        tally.Add(rule.Entity, $"rule:{rule.Id}");
        var masked = policy.Strategies.Apply(rule.Strategy, rule.Entity, value, rule.Keep ?? policy.Keep);
        if (masked is null) writer.WriteNullValue(); else writer.WriteStringValue(masked);
    }

    private static bool IsText(string type) =>
        type.StartsWith("text/", StringComparison.Ordinal) ||
        type is "application/xml" or "application/x-ndjson" or "application/x-www-form-urlencoded" ||
        type.EndsWith("+xml", StringComparison.Ordinal);

    private static string MediaType(string contentType) => contentType.Split(';', 2)[0].Trim().ToLowerInvariant();
}

/// <summary>The content type is one the masker cannot inspect; failing closed, it is not returned.</summary>
public sealed class UnmaskableContentException(string contentType)
    : Exception($"Content of type '{contentType}' cannot be inspected for masking, so it is not returned.");
