using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Portcullis.Masking.Rules;

namespace Portcullis.Masking.Streaming;

/// <summary>
/// Masks JSON while it is read: a Utf8JsonReader over a window of the input (its state carried from one
/// window to the next) and a Utf8JsonWriter to the output. Memory holds one window and the largest single
/// token, not the document. Values at a rule's JSON path (or, in SQL results, in a rule's column) are
/// masked whole; every other string, number and property name goes through the detectors.
/// </summary>
public sealed class JsonStreamMasker(MaskingPolicy policy)
{
    public const int DefaultChunkSize = 64 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // The output is read by agents, not embedded in HTML: keep '+', quotes in text and non-ASCII readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Masks <paramref name="input"/> into <paramref name="output"/>; throws JsonException on invalid JSON.</summary>
    public void Mask(string connection, Stream input, Stream output, bool sqlResults, MaskingTally tally, TextMaskerFunc maskText,
        int chunkSize = DefaultChunkSize)
    {
        var walk = new Walk(policy.Rules.Where(r => r.AppliesTo(connection)).ToArray(), sqlResults, tally, policy, maskText);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        var buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
        try
        {
            var state = new JsonReaderState(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            var filled = 0;
            var final = false;
            while (!final)
            {
                var read = input.Read(buffer, filled, buffer.Length - filled);
                final = read == 0;
                filled += read;
                var reader = new Utf8JsonReader(buffer.AsSpan(0, filled), final, state);
                while (reader.Read()) walk.Token(ref reader, writer);
                state = reader.CurrentState;
                var consumed = (int)reader.BytesConsumed;
                if (final && consumed < filled && !IsWhitespace(buffer.AsSpan(consumed, filled - consumed)))
                    throw new JsonException("The JSON ends in the middle of a value.");
                // The unread rest (a token cut by the window) moves to the front; a token larger than the
                // window grows it, so memory follows the largest token, not the document.
                Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                filled -= consumed;
                if (filled == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    Buffer.BlockCopy(buffer, 0, larger, 0, filled);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                if (writer.BytesPending > chunkSize) writer.Flush();
            }
            if (walk.Depth != 0) throw new JsonException("The JSON ends before its containers close.");
            writer.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes) if (b is not (0x20 or 0x09 or 0x0A or 0x0D)) return false;
        return true;
    }

    /// <summary>Where the walk stands: the path to the current value, open containers, a container being masked.</summary>
    private sealed class Walk(CompiledMaskingRule[] rules, bool sqlResults, MaskingTally tally, MaskingPolicy policy, TextMaskerFunc maskText)
    {
        private readonly List<PathItem> _path = [];
        private readonly List<(bool IsArray, int Next, bool HasItem)> _containers = [];
        private readonly Dictionary<(int Result, int Column), string> _origins = [];
        private string? _pendingName;
        private int _suppressDepth = -1;

        public int Depth => _containers.Count;

        public void Token(ref Utf8JsonReader reader, Utf8JsonWriter writer)
        {
            if (_suppressDepth >= 0)
            {
                // Inside a container a rule masked whole: nothing of it is written.
                if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray && reader.CurrentDepth == _suppressDepth)
                    _suppressDepth = -1;
                return;
            }
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    _pendingName = reader.GetString()!;
                    writer.WritePropertyName(maskText(_pendingName, tally) ?? "");
                    return;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    if (_containers[^1].HasItem) _path.RemoveAt(_path.Count - 1);
                    _containers.RemoveAt(_containers.Count - 1);
                    if (reader.TokenType == JsonTokenType.EndObject) writer.WriteEndObject(); else writer.WriteEndArray();
                    return;
            }

            var hasItem = _containers.Count > 0;
            if (hasItem)
            {
                var (isArray, next, item) = _containers[^1];
                _path.Add(isArray ? PathItem.Element(next) : PathItem.Property(_pendingName!));
                _containers[^1] = (isArray, next + 1, item);
            }

            if (RuleFor() is { } rule)
            {
                WriteMasked(ref reader, writer, rule);
            }
            else
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        _containers.Add((reader.TokenType == JsonTokenType.StartArray, 0, hasItem));
                        if (reader.TokenType == JsonTokenType.StartObject) writer.WriteStartObject(); else writer.WriteStartArray();
                        return; // the path item stays until the container ends
                    case JsonTokenType.String:
                        var text = reader.GetString()!;
                        if (sqlResults && IsOriginPath(out var result, out var column)) _origins[(result, column)] = text;
                        if (maskText(text, tally) is { } masked) writer.WriteStringValue(masked); else writer.WriteNullValue();
                        break;
                    case JsonTokenType.Number:
                        // A number can be a card or an account: masked numbers become strings.
                        var raw = Encoding.UTF8.GetString(reader.ValueSpan);
                        var maskedNumber = maskText(raw, tally);
                        if (maskedNumber == raw) writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                        else if (maskedNumber is null) writer.WriteNullValue();
                        else writer.WriteStringValue(maskedNumber);
                        break;
                    case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                    case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                    case JsonTokenType.Null: writer.WriteNullValue(); break;
                }
            }
            if (hasItem) _path.RemoveAt(_path.Count - 1);
        }

        private CompiledMaskingRule? RuleFor()
        {
            if (rules.Length == 0) return null;
            string? origin = null;
            if (sqlResults && _path.Count == 5 && _path[0].Name == "results" && _path[2].Name == "rows" && _path[4].Index >= 0)
                _origins.TryGetValue((_path[1].Index, _path[4].Index), out origin);
            foreach (var rule in rules)
                if (rule.MatchesPath(_path) || (origin is not null && rule.MatchesColumn(origin))) return rule;
            return null;
        }

        private bool IsOriginPath(out int result, out int column)
        {
            (result, column) = (-1, -1);
            if (_path.Count != 5 || _path[0].Name != "results" || _path[2].Name != "columns" || _path[4].Name != "origin") return false;
            (result, column) = (_path[1].Index, _path[3].Index);
            return true;
        }

        /// <summary>Masks a whole value by a rule's strategy; a container is replaced and its content never written.</summary>
        private void WriteMasked(ref Utf8JsonReader reader, Utf8JsonWriter writer, CompiledMaskingRule rule)
        {
            if (reader.TokenType == JsonTokenType.Null) { writer.WriteNullValue(); return; }
            string value;
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                _suppressDepth = reader.CurrentDepth;
                value = string.Join('/', _path.Select(p => p.Name ?? p.Index.ToString())); // a container has no text to keep part of
            }
            else
            {
                value = reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(reader.ValueSpan);
            }
            tally.Add(rule.Entity, $"rule:{rule.Id}");
            var masked = policy.Strategies.Apply(rule.Strategy, rule.Entity, value, rule.Keep ?? policy.Keep);
            if (masked is null) writer.WriteNullValue(); else writer.WriteStringValue(masked);
        }
    }
}

/// <summary>Masks one text value (null: the value is to be dropped).</summary>
public delegate string? TextMaskerFunc(string text, MaskingTally tally);
