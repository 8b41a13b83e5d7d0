using Portcullis.Defaults.Masking;
using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Portcullis.Masking.Detectors;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Values;

namespace Portcullis.Masking.Streaming;

/// <summary>
/// Masks JSON while it is read: a Utf8JsonReader over a window of the input (its state carried from one
/// window to the next). The output is the input itself, copied through, with each token that must change
/// replaced: nothing is re-serialised, and a value no detector could match is never decoded. Memory holds
/// one window and the largest single token, not the document. Values at a rule's JSON path (or, in SQL
/// results, in a rule's column) are masked whole; every other string, number and property name goes
/// through the detectors.
/// </summary>
public sealed class JsonStreamMasker(MaskingPolicy policy)
{
    public const int DefaultChunkSize = 64 * 1024;

    /// <summary>Masks <paramref name="input"/> into <paramref name="output"/>; throws JsonException on invalid JSON.</summary>
    public void Mask(string connection, Stream input, Stream output, bool sqlResults, ValueMasker values, int chunkSize = DefaultChunkSize)
    {
        using var run = Begin(connection, output, sqlResults, values, chunkSize);
        var chunk = ArrayPool<byte>.Shared.Rent(chunkSize);
        try
        {
            int read;
            while ((read = input.Read(chunk, 0, chunkSize)) > 0) run.Write(chunk.AsSpan(0, read));
            run.Complete();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>Begins masking one document given in pieces (<see cref="Run.Write"/>, then <see cref="Run.Complete"/>).</summary>
    public Run Begin(string connection, Stream output, bool sqlResults, ValueMasker values, int chunkSize = DefaultChunkSize) =>
        new(policy, connection, output, sqlResults, values, chunkSize);

    /// <summary>
    /// One document being masked as its pieces arrive. Each piece is masked as far as its last whole token
    /// and written out before <see cref="Write"/> returns; a token cut by the piece's end waits for the next.
    /// Memory holds a piece and the largest single token.
    /// </summary>
    public sealed class Run : IMaskingRun
    {
        private readonly Sink _sink;
        private readonly Walk _walk;
        private byte[] _buffer;
        private int _filled;
        private JsonReaderState _state;
        private bool _completed;

        internal Run(MaskingPolicy policy, string connection, Stream output, bool sqlResults, ValueMasker values, int chunkSize)
        {
            _sink = new Sink(output, chunkSize);
            _walk = new Walk(policy.Rules.Where(r => r.AppliesTo(connection)).ToArray(), sqlResults, values, policy, _sink, new SplitValues(values, _sink), connection);
            _buffer = ArrayPool<byte>.Shared.Rent(chunkSize);
            // Comments are refused rather than copied: they would pass through unread (the caller then masks the body as text).
            _state = new JsonReaderState(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        }

        /// <summary>Masks the next piece of the document; throws JsonException once it cannot be JSON.</summary>
        public void Write(ReadOnlySpan<byte> piece)
        {
            if (_completed) throw new InvalidOperationException("The document is already complete.");
            if (_filled + piece.Length > _buffer.Length)
            {
                // The unread rest of the last piece (a token it cut) and this piece must fit together.
                var larger = ArrayPool<byte>.Shared.Rent(_filled + piece.Length);
                Buffer.BlockCopy(_buffer, 0, larger, 0, _filled);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = larger;
            }
            piece.CopyTo(_buffer.AsSpan(_filled));
            _filled += piece.Length;
            Process(final: false);
        }

        /// <summary>Ends the document: throws JsonException when it ends inside a value or a container.</summary>
        public void Complete()
        {
            if (_completed) return;
            _completed = true;
            Process(final: true);
            if (_walk.Depth != 0) throw new JsonException("The JSON ends before its containers close.");
            _walk.Split.Barrier();
            _sink.Flush();
        }

        private void Process(bool final)
        {
            var reader = new Utf8JsonReader(_buffer.AsSpan(0, _filled), final, _state);
            _walk.Window(_buffer);
            while (reader.Read()) _walk.Token(ref reader);
            _state = reader.CurrentState;
            var consumed = (int)reader.BytesConsumed;
            if (final && consumed < _filled && !IsWhitespace(_buffer.AsSpan(consumed, _filled - consumed)))
                throw new JsonException("The JSON ends in the middle of a value.");
            _walk.CopyThrough(final ? _filled : consumed);
            // The unread rest (a token cut by the piece's end) moves to the front for the next piece.
            Buffer.BlockCopy(_buffer, consumed, _buffer, 0, _filled - consumed);
            _filled -= consumed;
            _sink.Flush();
        }

        public void Dispose()
        {
            _sink.Dispose();
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyExcept(" \t\r\n"u8) < 0;

    /// <summary>
    /// Where the walk stands: the input not yet copied to the output, the path to the current value (kept only
    /// when rules or SQL columns need it), open containers, and a container being masked whole.
    /// </summary>
    private sealed class Walk(CompiledMaskingRule[] rules, bool sqlResults, ValueMasker values, MaskingPolicy policy, Sink sink, SplitValues split, string connection)
    {
        // How many JSON documents inside JSON strings are being masked on this thread: a document in a string in a string
        // is read too, as far as this depth, and deeper ones are masked whole.
        [ThreadStatic] private static int t_nested;
        private const int MaxNested = 3;

        public SplitValues Split => split;

        private readonly bool _trackPath = rules.Length > 0 || sqlResults;
        private readonly List<PathItem> _path = [];
        private readonly List<(bool IsArray, int Next, bool HasItem, KeyKind Key)> _containers = [];
        private readonly Dictionary<(int Result, int Column), string> _origins = [];
        private readonly Dictionary<(int Result, int Column), KeyKind> _columnKeys = [];
        private string? _pendingName;
        private KeyKind _pendingKey;
        private int _suppressDepth = -1;
        private byte[] _window = [];
        private int _copyFrom;

        public int Depth => _containers.Count;

        /// <summary>A new window of input begins (the unread rest of the last one at its front).</summary>
        public void Window(byte[] window)
        {
            _window = window;
            _copyFrom = _suppressDepth >= 0 ? -1 : 0;
        }

        /// <summary>Copies the input not yet written, up to <paramref name="end"/> of the window (nothing inside a masked container).</summary>
        public void CopyThrough(int end)
        {
            if (_copyFrom >= 0 && end > _copyFrom) sink.Write(_window.AsSpan(_copyFrom, end - _copyFrom));
            _copyFrom = _suppressDepth >= 0 ? -1 : end;
        }

        public void Token(ref Utf8JsonReader reader)
        {
            var start = (int)reader.TokenStartIndex;
            if (_suppressDepth >= 0)
            {
                // Inside a container a rule masked whole: nothing of it is written.
                if (reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray && reader.CurrentDepth == _suppressDepth)
                {
                    _suppressDepth = -1;
                    _copyFrom = start + 1;
                    EndContainer();
                }
                return;
            }
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    if (_trackPath) _pendingName = reader.GetString()!;
                    _pendingKey = KeyNames.Classify(ref reader);
                    // A name is part of the document's text: a value may be split between it and what stands around it.
                    var name = MaskString(ref reader);
                    if (name == ValueOutcome.Dropped)
                    {
                        Replace(start, StringEnd(ref reader), "");
                        split.Barrier();
                    }
                    else Scalar(name, start, StringEnd(ref reader), ref reader);
                    return;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    EndContainer();
                    return;
            }

            var hasItem = _containers.Count > 0;
            // The name that holds this value: its property's, else (in an array, or an object under a secret's
            // name) the one that holds its container.
            var key = KeyKind.None;
            if (hasItem)
            {
                var (isArray, next, item, containerKey) = _containers[^1];
                if (_trackPath) _path.Add(isArray ? PathItem.Element(next) : PathItem.Property(_pendingName!));
                _containers[^1] = (isArray, next + 1, item, containerKey);
                key = isArray || _pendingKey == KeyKind.None ? containerKey : _pendingKey;
                if (sqlResults && _path.Count == 5 && _path[0].Name == "results" && _path[2].Name == "rows" && _path[4].Index >= 0)
                    key = _columnKeys.GetValueOrDefault((_path[1].Index, _path[4].Index));
            }
            _pendingKey = KeyKind.None;

            if (_trackPath && RuleFor() is { } rule)
            {
                split.Barrier();
                MaskWhole(ref reader, rule, start);
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    _containers.Add((reader.TokenType == JsonTokenType.StartArray, 0, hasItem, KeyKind.None));
                    return; // the path item stays until the container ends
                }
            }
            else
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        // An array's items are held by its name; an object's members by their own, or a secret's around them.
                        var isArrayStart = reader.TokenType == JsonTokenType.StartArray;
                        _containers.Add((isArrayStart, 0, hasItem, isArrayStart || KeyNames.Encloses(key) ? key : KeyKind.None));
                        return; // the path item stays until the container ends
                    case JsonTokenType.String:
                        if (sqlResults && IsOriginPath(out var result, out var column))
                        {
                            var origin = reader.GetString()!;
                            _origins[(result, column)] = origin;
                            // A column holds what its origin holds, whatever the query called it (SELECT secret AS note).
                            if (SensitiveKeys.Classify(origin.AsSpan(origin.LastIndexOf('.') + 1)) is var byOrigin and not KeyKind.None)
                                _columnKeys[(result, column)] = byOrigin;
                        }
                        if (sqlResults && IsColumnNamePath(out result, out column)
                            && KeyNames.Classify(ref reader) is var byName
                            && (byName != KeyKind.None || !_columnKeys.ContainsKey((result, column))))
                            _columnKeys[(result, column)] = byName;
                        var text = key == KeyKind.None && Nested(ref reader) is { } nested ? nested : MaskString(ref reader, key);
                        Scalar(text, start, StringEnd(ref reader), ref reader);
                        break;
                    case JsonTokenType.Number:
                        // A number can be a card or an account: masked numbers become strings.
                        var number = values.MaskNumber(reader.ValueSpan, key);
                        Scalar(number, start, start + reader.ValueSpan.Length, ref reader);
                        break;
                    default: // true, false, null: no part of a value
                        split.Barrier();
                        break;
                }
            }
            if (hasItem && _trackPath) _path.RemoveAt(_path.Count - 1);
        }

        /// <summary>
        /// Writes a string or number token as masked (or as it is), and hands it to <see cref="SplitValues"/>, which holds
        /// it back while a value split across it and the next ones may still show.
        /// </summary>
        private void Scalar(ValueOutcome outcome, int start, int end, ref Utf8JsonReader reader)
        {
            CopyUpTo(start);
            _copyFrom = start;
            var at = sink.Position;
            if (sink.HoldFrom > at) sink.HoldFrom = at;
            switch (outcome)
            {
                case ValueOutcome.Masked:
                    sink.WriteString(values.Masked);
                    _copyFrom = end;
                    split.Text(at, sink.Position, values.Masked, reader.TokenType == JsonTokenType.PropertyName);
                    break;
                case ValueOutcome.Dropped:
                    sink.Write("null"u8);
                    _copyFrom = end;
                    split.Barrier();
                    break;
                default:
                    sink.Write(_window.AsSpan(start, end - start));
                    _copyFrom = end;
                    split.Raw(at, sink.Position, reader.ValueSpan, reader.ValueIsEscaped,
                        reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName ? values.LastTraits : TextTraits.Of(reader.ValueSpan),
                        reader.TokenType == JsonTokenType.PropertyName);
                    break;
            }
        }

        /// <summary>
        /// A string that holds a JSON document of its own ("{\"a\":\"alice@exam\",\"b\":\"ple.com\"}") is masked as one, its names,
        /// values and splits read as in the outer document; null when the string is not a JSON object or array. Too deep, masked whole.
        /// </summary>
        private ValueOutcome? Nested(ref Utf8JsonReader reader)
        {
            var raw = reader.ValueSpan;
            if (raw.Length < 7 || raw[0] is not ((byte)'{' or (byte)'[') || raw[^1] is not ((byte)'}' or (byte)']')) return null;
            var inner = reader.GetString()!;
            if (t_nested >= MaxNested)
            {
                values.Tally.Add("NESTED_JSON", "detector:nested_json");
                return values.Replaced("[NESTED_JSON]");
            }
            using var output = new MemoryStream(inner.Length + 64);
            t_nested++;
            try
            {
                new JsonStreamMasker(policy).Mask(connection, new MemoryStream(Encoding.UTF8.GetBytes(inner)), output, false,
                    new ValueMasker(values.Detectors, policy, values.Tally), 4096);
            }
            catch (JsonException)
            {
                return null; // not JSON after all: read as text
            }
            finally
            {
                t_nested--;
            }
            var masked = Encoding.UTF8.GetString(output.GetBuffer(), 0, (int)output.Length);
            // Unchanged as a document: still read as one string (its traits are what the split reading asks).
            return masked == inner ? MaskString(ref reader) : values.Replaced(masked);
        }

        private void EndContainer()
        {
            if (_containers[^1].HasItem && _trackPath) _path.RemoveAt(_path.Count - 1);
            _containers.RemoveAt(_containers.Count - 1);
        }

        /// <summary>A string or property name through the detectors; escaped text is unescaped first, plain text checked in its bytes.</summary>
        private ValueOutcome MaskString(ref Utf8JsonReader reader, KeyKind key = KeyKind.None)
        {
            if (!reader.ValueIsEscaped) return values.Mask(reader.ValueSpan, key);
            var chars = values.Buffer(reader.ValueSpan.Length);
            var length = reader.CopyString(chars);
            return values.Mask(chars[..length], key);
        }

        // A string token's raw bytes lie between its quotes.
        private static int StringEnd(ref Utf8JsonReader reader) => (int)reader.TokenStartIndex + reader.ValueSpan.Length + 2;

        /// <summary>Writes the input up to <paramref name="start"/>, then <paramref name="replacement"/> as a JSON string for the token up to <paramref name="end"/>.</summary>
        private void Replace(int start, int end, ReadOnlySpan<char> replacement)
        {
            CopyUpTo(start);
            sink.WriteString(replacement);
            _copyFrom = end;
        }

        private void ReplaceWithNull(int start, int end)
        {
            CopyUpTo(start);
            sink.Write("null"u8);
            _copyFrom = end;
        }

        private void CopyUpTo(int start)
        {
            if (start > _copyFrom) sink.Write(_window.AsSpan(_copyFrom, start - _copyFrom));
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

        private bool IsColumnNamePath(out int result, out int column)
        {
            (result, column) = (-1, -1);
            if (_path.Count != 5 || _path[0].Name != "results" || _path[2].Name != "columns" || _path[4].Name != "name") return false;
            (result, column) = (_path[1].Index, _path[3].Index);
            return true;
        }

        private bool IsOriginPath(out int result, out int column)
        {
            (result, column) = (-1, -1);
            if (_path.Count != 5 || _path[0].Name != "results" || _path[2].Name != "columns" || _path[4].Name != "origin") return false;
            (result, column) = (_path[1].Index, _path[3].Index);
            return true;
        }

        /// <summary>Masks a whole value by a rule's strategy; a container is replaced and its content never written.</summary>
        private void MaskWhole(ref Utf8JsonReader reader, CompiledMaskingRule rule, int start)
        {
            if (reader.TokenType == JsonTokenType.Null) return;
            string value;
            int end;
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    value = string.Join('/', _path.Select(p => p.Name ?? p.Index.ToString())); // a container has no text to keep part of
                    end = start;
                    break;
                case JsonTokenType.String:
                    value = reader.GetString()!;
                    end = StringEnd(ref reader);
                    break;
                default: // numbers, true, false
                    value = Encoding.UTF8.GetString(reader.ValueSpan);
                    end = start + reader.ValueSpan.Length;
                    break;
            }
            values.Tally.Add(rule.Entity, $"rule:{rule.Id}");
            if (policy.Strategies.Apply(rule.Strategy, rule.Entity, value, rule.Keep ?? policy.Keep) is { } masked) Replace(start, end, masked);
            else ReplaceWithNull(start, end);
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                _suppressDepth = reader.CurrentDepth;
                _copyFrom = -1;
            }
        }
    }

    /// <summary>
    /// Buffers the output and writes it to the stream a chunk at a time; what <see cref="HoldFrom"/> holds back stays
    /// until it is let go, and may be rewritten meanwhile.
    /// </summary>
    private sealed class Sink(Stream output, int size) : IHeldOutput, IDisposable
    {
        private static readonly JavaScriptEncoder Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(size);
        private int _length;
        private long _flushed;

        /// <summary>How much has been written so far, out or held.</summary>
        public long Position => _flushed + _length;

        public long HoldFrom { get; set; } = long.MaxValue;

        public void Write(ReadOnlySpan<byte> bytes)
        {
            if (_length + bytes.Length > _buffer.Length) Flush();
            if (_length == 0 && HoldFrom == long.MaxValue && bytes.Length > _buffer.Length)
            {
                output.Write(bytes);
                _flushed += bytes.Length;
                return;
            }
            Ensure(bytes.Length);
            bytes.CopyTo(_buffer.AsSpan(_length));
            _length += bytes.Length;
        }

        private void Ensure(int more)
        {
            if (_length + more <= _buffer.Length) return;
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_length + more, _buffer.Length * 2));
            Buffer.BlockCopy(_buffer, 0, larger, 0, _length);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        // Printable ASCII but the quote and the backslash: written as it is, no escaping needed.
        private static readonly SearchValues<char> Plain = SearchValues.Create(
            [.. Enumerable.Range(0x20, 0x7F - 0x20).Select(c => (char)c).Where(c => c is not ('"' or '\\'))]);

        /// <summary>A JSON string; the output is read by agents, not embedded in HTML, so '+', quotes in text and non-ASCII stay readable.</summary>
        public void WriteString(ReadOnlySpan<char> text)
        {
            Write("\""u8);
            if (text.ContainsAnyExcept(Plain)) Write(JsonEncodedText.Encode(text, Encoder).EncodedUtf8Bytes);
            else
            {
                if (_length + text.Length > _buffer.Length) Flush();
                Ensure(text.Length);
                _length += Encoding.ASCII.GetBytes(text, _buffer.AsSpan(_length));
            }
            Write("\""u8);
        }

        public ReadOnlySpan<byte> Held(long start, long end) => _buffer.AsSpan((int)(start - _flushed), (int)(end - start));

        public long Rewrite(long start, long end, string text)
        {
            var encoded = JsonEncodedText.Encode(text, Encoder).EncodedUtf8Bytes;
            var replacement = encoded.Length + 2;
            var from = (int)(start - _flushed);
            var to = (int)(end - _flushed);
            var delta = replacement - (to - from);
            Ensure(Math.Max(0, delta));
            Buffer.BlockCopy(_buffer, to, _buffer, from + replacement, _length - to);
            _buffer[from] = (byte)'"';
            encoded.CopyTo(_buffer.AsSpan(from + 1));
            _buffer[from + replacement - 1] = (byte)'"';
            _length += delta;
            return delta;
        }

        public void Flush()
        {
            var upTo = HoldFrom == long.MaxValue ? _length : (int)Math.Clamp(HoldFrom - _flushed, 0, _length);
            if (upTo == 0) return;
            output.Write(_buffer, 0, upTo);
            Buffer.BlockCopy(_buffer, upTo, _buffer, 0, _length - upTo);
            _length -= upTo;
            _flushed += upTo;
        }

        public void Dispose()
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }
}

/// <summary>Key names read from the JSON reader without a string per name: classified once per distinct name, then looked up.</summary>
internal static class KeyNames
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, KeyKind> Known = new(StringComparer.Ordinal);
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, KeyKind>.AlternateLookup<ReadOnlySpan<char>> KnownBySpan =
        Known.GetAlternateLookup<ReadOnlySpan<char>>();

    public static KeyKind Classify(ref Utf8JsonReader reader)
    {
        Span<char> chars = stackalloc char[96];
        scoped ReadOnlySpan<char> name;
        if (!reader.ValueIsEscaped && reader.ValueSpan.Length <= chars.Length && System.Text.Ascii.IsValid(reader.ValueSpan))
        {
            System.Text.Ascii.ToUtf16(reader.ValueSpan, chars, out var written);
            name = chars[..written];
        }
        else if (reader.ValueSpan.Length <= chars.Length * 2)
        {
            var text = reader.GetString()!;
            name = text;
        }
        else return KeyKind.None;
        if (KnownBySpan.TryGetValue(name, out var kind)) return kind;
        kind = SensitiveKeys.Classify(name);
        if (Known.Count < 10_000) KnownBySpan.TryAdd(name, kind);
        return kind;
    }

    /// <summary>Whether the members of an object held by a name of this kind are that kind too: a secret's parts are secret.</summary>
    public static bool Encloses(KeyKind key) => key is KeyKind.Secret or KeyKind.AwsSecret or KeyKind.PrivateKey;
}
