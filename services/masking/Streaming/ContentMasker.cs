using Portcullis.Defaults.Masking;
using System.Text;
using System.Text.Json;
using Portcullis.Contracts;
using Portcullis.Masking.Detectors;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Values;

namespace Portcullis.Masking.Streaming;

/// <summary>
/// Masks an output by its content type, as a stream: JSON token by token (rules by JSON path and, in SQL
/// results, by column origin; detectors for everything else), text in chunks. Anything else cannot be
/// inspected and is refused.
/// </summary>
public sealed class ContentMasker
{
    private readonly MaskingPolicy _policy;
    private readonly JsonStreamMasker _json;

    public ContentMasker(MaskingPolicy policy)
    {
        _policy = policy;
        _json = new JsonStreamMasker(policy);
    }

    /// <summary>Masks a whole body; JSON that turns out invalid is still masked, as text.</summary>
    public byte[] Mask(string connection, string contentType, byte[] body, MaskingTally tally)
    {
        var type = MediaType(contentType);
        Readable(contentType);
        // A byte-order mark or a NUL byte: UTF-16 or UTF-32 (or binary), which the UTF-8 masker would read past.
        if ((body.Length >= 2 && Utf16Mark(body[0], body[1])) || body.AsSpan().IndexOf((byte)0) >= 0)
            throw new UnmaskableContentException(contentType);
        using var output = new MemoryStream(body.Length + 256);
        // The body is read in place: neither attempt copies it.
        if (IsJson(type))
        {
            var local = new MaskingTally();
            try
            {
                _json.Mask(connection, new MemoryStream(body, writable: false), output, type == MaskingMediaTypes.SqlResults, Values(connection, local));
                tally.AddAll(local);
                return output.ToArray();
            }
            catch (JsonException)
            {
                output.SetLength(0);
            }
        }
        else if (!IsText(type) && type.Length > 0)
        {
            throw new UnmaskableContentException(contentType);
        }
        Text(connection, tally).Mask(new MemoryStream(body, writable: false), output);
        return output.ToArray();
    }

    /// <summary>Masks a stream into another, in bounded memory; invalid JSON throws (what was written is then unusable).</summary>
    public void Mask(string connection, string contentType, Stream input, Stream output, MaskingTally tally, int chunkSize = 64 * 1024)
    {
        using var run = Begin(connection, contentType, output, tally, chunkSize);
        var chunk = new byte[chunkSize];
        int read;
        while ((read = input.Read(chunk, 0, chunk.Length)) > 0) run.Write(chunk.AsSpan(0, read));
        run.Complete();
    }

    /// <summary>
    /// Begins masking an output that arrives in pieces: each piece written is masked and written to
    /// <paramref name="output"/> as far as it can be (JSON to its last whole token, text up to a held-back
    /// tail). Invalid JSON throws: in pieces, what was written cannot be taken back to mask it as text.
    /// </summary>
    public IMaskingRun Begin(string connection, string contentType, Stream output, MaskingTally tally, int chunkSize = 64 * 1024)
    {
        var type = MediaType(contentType);
        Readable(contentType);
        if (IsJson(type)) return new ReadableRun(contentType, _json.Begin(connection, output, type == MaskingMediaTypes.SqlResults, Values(connection, tally), chunkSize));
        if (IsText(type) || type.Length == 0) return new ReadableRun(contentType, Text(connection, tally).Begin(output));
        throw new UnmaskableContentException(contentType);
    }

    /// <summary>
    /// What the whole-body path checks, checked as the pieces arrive: a byte-order mark of UTF-16 or UTF-32 at the
    /// start (however the first piece is cut), or a NUL byte anywhere (UTF-16/32 without a mark, or binary), stops
    /// the output before the piece that holds it is masked.
    /// </summary>
    private sealed class ReadableRun(string contentType, IMaskingRun inner) : IMaskingRun
    {
        private int _seen;
        private byte _first;

        public void Write(ReadOnlySpan<byte> piece)
        {
            if (piece.IndexOf((byte)0) >= 0) throw new UnmaskableContentException(contentType);
            if (_seen < 2 && piece.Length > 0)
            {
                if (_seen == 0) _first = piece[0];
                var second = _seen == 0 ? (piece.Length > 1 ? piece[1] : (int?)null) : piece[0];
                if (second is { } b && Utf16Mark(_first, (byte)b)) throw new UnmaskableContentException(contentType);
                _seen = Math.Min(2, _seen + piece.Length);
            }
            inner.Write(piece);
        }

        public void Complete() => inner.Complete();

        public void Dispose() => inner.Dispose();
    }

    private static bool Utf16Mark(byte first, byte second) => (first, second) is (0xFF, 0xFE) or (0xFE, 0xFF);

    /// <summary>
    /// Response headers: whole values by a header rule; by the header's name when it says what it holds
    /// (Set-Cookie, Authorization, X-Api-Key...); every other value through the detectors.
    /// </summary>
    public Dictionary<string, string[]> MaskHeaders(string connection, IReadOnlyDictionary<string, string[]> headers, MaskingTally tally)
    {
        var masked = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        var values = Values(connection, tally);
        foreach (var (name, headerValues) in headers)
        {
            var rule = _policy.Rules.FirstOrDefault(r => r.AppliesTo(connection) && r.MatchesHeader(name));
            masked[name] = [.. headerValues.Select(value =>
            {
                if (rule is null) return values.Mask(value, SensitiveKeys.Classify(name)) ?? "";
                tally.Add(rule.Entity, $"rule:{rule.Id}");
                return _policy.Strategies.Apply(rule.Strategy, rule.Entity, value, rule.Keep ?? _policy.Keep) ?? "";
            })];
        }
        return masked;
    }

    private ValueMasker Values(string connection, MaskingTally tally) => new(_policy.DetectorsFor(connection), _policy, tally);

    private TextStreamMasker Text(string connection, MaskingTally tally)
    {
        var values = Values(connection, tally);
        return new TextStreamMasker(_policy.DetectorsFor(connection), (finding, value) => values.Replace(finding, value) ?? "");
    }

    private static bool IsJson(string type) => type == "application/json" || type.EndsWith("+json", StringComparison.Ordinal);

    private static bool IsText(string type) =>
        type.StartsWith("text/", StringComparison.Ordinal) ||
        type is "application/xml" or "application/x-ndjson" or "application/x-www-form-urlencoded" ||
        type.EndsWith("+xml", StringComparison.Ordinal);

    // The masker reads UTF-8: a body declared in another encoding that is not ASCII-compatible (UTF-16, UTF-32,
    // EBCDIC...) would carry its values past the detectors, so it is refused.
    private static readonly HashSet<string> AsciiCompatible = new(StringComparer.OrdinalIgnoreCase)
    {
        "utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "iso-8859-15", "windows-1252", "cp1252",
    };

    private static void Readable(string contentType)
    {
        foreach (var parameter in contentType.Split(';').Skip(1))
        {
            var (name, value) = parameter.Split('=', 2) is [var n, var v] ? (n.Trim(), v.Trim().Trim('"')) : (parameter.Trim(), "");
            if (name.Equals("charset", StringComparison.OrdinalIgnoreCase) && !AsciiCompatible.Contains(value))
                throw new UnmaskableContentException(contentType);
        }
    }

    private static string MediaType(string contentType) => contentType.Split(';', 2)[0].Trim().ToLowerInvariant();
}

/// <summary>The content type is one the masker cannot inspect; failing closed, it is not returned.</summary>
public sealed class UnmaskableContentException(string contentType)
    : Exception($"Content of type '{contentType}' cannot be inspected for masking, so it is not returned.");
