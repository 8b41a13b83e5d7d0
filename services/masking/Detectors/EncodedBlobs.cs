using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Base64 (standard or URL-safe) and hex runs decoded and searched like any text: a run whose decoded text
/// holds a finding is masked whole, as that finding's entity. Only runs that decode to text are searched (a
/// hash or a random token decodes to binary and is left alone), with bounded length and depth and a
/// bounded budget of decoded characters per text; past the budget a run that decodes to text is masked whole,
/// unsearched (<see cref="Unsearched"/>).
/// </summary>
public static class EncodedBlobs
{
    public const int MinLength = 16;

    /// <summary>
    /// The shortest base64 run that is decoded at all: "YWJAY2QuaW8" is ab@cd.io. A run shorter than
    /// <see cref="MinLength"/> counts only when all it decodes to is one value (a word of eight letters and digits
    /// often decodes to something, rarely to exactly an address).
    /// </summary>
    public const int ShortMinLength = 8;
    private const int MaxLength = 64 * 1024;
    private const int WindowOverlap = 1024; // a multiple of eight, longer than any value
    private const int Budget = 256 * 1024;

    /// <summary>
    /// What a run that decodes to text is masked as once the text's budget is spent: it can no longer be searched, and
    /// a value must not pass because enough harmless runs came before it (mask the more, never the less).
    /// </summary>
    public const string Unsearched = "ENCODED";
    private static Finding UnsearchedRun(int start, int length) => new(start, length, Unsearched, 0);

    private static readonly SearchValues<char> Base64Chars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_");

    /// <summary>Adds a finding for each run in <paramref name="text"/> whose decoded text holds one.</summary>
    public static void Find(ReadOnlySpan<char> text, TextMasker masker, List<Finding> findings, int depth)
    {
        var budget = Budget;
        List<Finding>? inner = null;
        SeparatedHex(text, masker, findings, depth, ref budget);
        Base85(text, masker, findings, depth, ref budget);
        for (var at = 0; at < text.Length;)
        {
            var start = text[at..].IndexOfAny(Base64Chars);
            if (start < 0) break;
            start += at;
            var length = text[start..].IndexOfAnyExcept(Base64Chars);
            if (length < 0) length = text.Length - start;
            // Padding belongs to the run it ends.
            while (length < text.Length - start && text[start + length] == '=' && length < MaxLength) length++;
            at = start + length;
            if (length < MinLength)
            {
                if (length >= ShortMinLength) Short(text, start, length, masker, findings, depth, ref budget);
                continue;
            }
            // Base64 wrapped in lines (MIME, PEM, `base64` without -w0): the lines decoded as one, so a value across a break is found.
            if (Unwrapped(text, start, length) is ({ } joined, var end) && Decode(joined) is { } whole)
            {
                if (budget <= 0)
                {
                    findings.Add(UnsearchedRun(start, end - start));
                    at = end;
                    continue;
                }
                budget -= whole.Length;
                inner ??= [];
                masker.Find(whole, masker.Admitted(TextTraits.Of(whole)), inner, depth + 1);
                if (inner.Count > 0)
                {
                    var found = inner.MaxBy(f => f.Priority);
                    findings.Add(new Finding(start, end - start, found.Entity, found.Priority));
                    at = end;
                    continue;
                }
            }
            // 0x6164...: a hex literal's prefix is not part of the hex.
            if (length > 2 && text[start] == '0' && text[start + 1] is 'x' or 'X') (start, length) = (start + 2, length - 2);
            inner ??= [];
            // A run longer than one window is read window by window (overlapping, each from a whole octet of base32, so
            // quads and hex pairs too): a value past the first window is still found; windows of binary are passed over.
            for (var from = 0; from < length; from += MaxLength - WindowOverlap)
            {
                var run = text.Slice(start + from, Math.Min(length - from, MaxLength));
                var decoded = Decode(run);
                if (decoded is not null)
                {
                    if (budget <= 0)
                    {
                        findings.Add(UnsearchedRun(start, length));
                        break;
                    }
                    budget -= decoded.Length;
                    masker.Find(decoded, masker.Admitted(TextTraits.Of(decoded)), inner, depth + 1);
                    if (inner.Count > 0)
                    {
                        var strongest = inner.MaxBy(f => f.Priority);
                        findings.Add(new Finding(start, length, strongest.Entity, strongest.Priority));
                        break;
                    }
                }
                if (from + MaxLength >= length) break;
            }
        }
    }

    /// <summary>
    /// Whether any run of <paramref name="text"/> (cut as <see cref="Find"/> cuts them) decodes to text at all: when none
    /// does, <see cref="Find"/> can find nothing in it, and a caller that would search the text only for what its runs
    /// decode to (a seam between two JSON scalars) need not search it.
    /// </summary>
    public static bool MayHoldText(ReadOnlySpan<char> text)
    {
        for (var at = 0; at < text.Length;)
        {
            var start = text[at..].IndexOfAny(Base64Chars);
            if (start < 0) return false;
            start += at;
            var length = text[start..].IndexOfAnyExcept(Base64Chars);
            if (length < 0) length = text.Length - start;
            while (length < text.Length - start && text[start + length] == '=') length++;
            at = start + length;
            var run = text.Slice(start, length);
            if (length >= MinLength ? Decode(run) is not null : length >= ShortMinLength && ShortText(run) is not null) return true;
        }
        return false;
    }

    /// <summary>A short base64 run whose decoded text is one value, whole: masked as that value.</summary>
    private static void Short(ReadOnlySpan<char> text, int start, int length, TextMasker masker, List<Finding> findings, int depth, ref int budget)
    {
        if (ShortText(text.Slice(start, length)) is not { } decoded) return;
        if (budget <= 0)
        {
            findings.Add(UnsearchedRun(start, length));
            return;
        }
        budget -= decoded.Length;
        var inner = new List<Finding>();
        masker.Find(decoded, masker.Admitted(TextTraits.Of(decoded)), inner, depth + 1);
        if (inner.Count == 1 && inner[0].Start == 0 && inner[0].Length == decoded.Length)
            findings.Add(new Finding(start, length, inner[0].Entity, inner[0].Priority));
    }

    // The text a short base64 run decodes to, or null when it does not look like base64 of text.
    private static string? ShortText(ReadOnlySpan<char> run)
    {
        var body = run.TrimEnd('=');
        if (body.Contains('=') || body.Length % 4 == 1 || body.IndexOfAny('@', '.') >= 0) return null;
        var (lower, uppers, digit) = (false, 0, false);
        foreach (var c in body)
        {
            lower |= char.IsAsciiLetterLower(c);
            if (char.IsAsciiLetterUpper(c)) uppers++;
            digit |= char.IsAsciiDigit(c);
        }
        // Base64 of text has lower case and a digit or several capitals: "Customer" is a word.
        if (!(lower && (uppers >= 2 || digit))) return null;
        Span<char> standard = stackalloc char[(body.Length + 3) / 4 * 4];
        for (var i = 0; i < body.Length; i++) standard[i] = body[i] switch { '-' => '+', '_' => '/', var c => c };
        standard[body.Length..].Fill('=');
        Span<byte> bytes = stackalloc byte[standard.Length / 4 * 3];
        if (!Convert.TryFromBase64Chars(standard, bytes, out var written) || written < 5 || !Utf8.IsValid(bytes[..written])) return null;
        var decoded = Encoding.UTF8.GetString(bytes[..written]);
        foreach (var c in decoded)
            if (c < ' ' || c == '' || c == '�') return null;
        return decoded;
    }

    /// <summary>
    /// Hex bytes with a separator between them ("61:64:61", "61 64 61", "61-64-61", "61, 64", "0x61,0x64", "0x61 0x64", "\\x61, \\x64"),
    /// eight or more, the same separator throughout: decoded and searched like a run (a MAC address is six, and a fingerprint
    /// decodes to binary).
    /// </summary>
    private static void SeparatedHex(ReadOnlySpan<char> text, TextMasker masker, List<Finding> findings, int depth, ref int budget)
    {
        for (var at = 0; at + 5 <= text.Length; at++)
        {
            var prefix = Prefix(text, at);
            if (prefix == 0 && !(text[at + 2] is ':' or ' ' or '-' or ',' or ';')) continue;
            if (!HexByte(text, at, prefix) || (at > 0 && char.IsAsciiLetterOrDigit(text[at - 1]))) continue;
            // The separator: what stands between the first byte and the second.
            var gap = at + prefix + 2;
            var sepLength = 0;
            while (sepLength < 2 && gap + sepLength < text.Length && text[gap + sepLength] is ':' or ' ' or '-' or ',' or ';') sepLength++;
            if (sepLength == 0 || (sepLength == 2 && text[gap + 1] != ' ')) continue;
            var separator = text.Slice(gap, sepLength);
            var bytes = new List<byte>();
            var end = at;
            while (HexByte(text, end, prefix) && bytes.Count < MaxLength)
            {
                bytes.Add((byte)(Hex(text[end + prefix]) * 16 + Hex(text[end + prefix + 1])));
                end += prefix + 2;
                if (end + sepLength + prefix + 2 <= text.Length && text.Slice(end, sepLength).SequenceEqual(separator) && Prefix(text, end + sepLength) == prefix) end += sepLength;
                else break;
            }
            if (bytes.Count < 8 || AsText([.. bytes]) is not { } decoded) continue;
            if (budget <= 0)
            {
                findings.Add(UnsearchedRun(at, end - at));
                at = end;
                continue;
            }
            budget -= decoded.Length;
            var inner = new List<Finding>();
            masker.Find(decoded, masker.Admitted(TextTraits.Of(decoded)), inner, depth + 1);
            if (inner.Count > 0)
            {
                var strongest = inner.MaxBy(f => f.Priority);
                findings.Add(new Finding(at, end - at, strongest.Entity, strongest.Priority));
            }
            at = end;
        }
    }

    // "0x" or "\\x" before a byte: its length, or 0.
    private static int Prefix(ReadOnlySpan<char> text, int at) =>
        at + 1 < text.Length && text[at] is '0' or '\\' && text[at + 1] is 'x' or 'X' ? 2 : 0;

    // Two hex digits at `at` past the prefix, not followed by a letter or digit.
    private static bool HexByte(ReadOnlySpan<char> text, int at, int prefix)
    {
        var digits = at + prefix;
        return digits + 2 <= text.Length && (prefix == 0 || Prefix(text, at) == prefix) && char.IsAsciiHexDigit(text[digits]) && char.IsAsciiHexDigit(text[digits + 1])
               && (digits + 2 == text.Length || !char.IsAsciiLetterOrDigit(text[digits + 2]));
    }

    /// <summary>
    /// Lines of the same width (a multiple of four) after the run at <paramref name="start"/>, each after one line
    /// break, the last possibly shorter (in whole quads): their characters joined and where the last ends; null when there is one line.
    /// </summary>
    private static (string? Joined, int End) Unwrapped(ReadOnlySpan<char> text, int start, int width)
    {
        if (width % 4 != 0 || width > MaxLength) return (null, 0);
        var joined = new StringBuilder().Append(text.Slice(start, width));
        var end = start + width;
        while (joined.Length < MaxLength)
        {
            var next = end;
            if (next < text.Length && text[next] == '\r') next++;
            if (next >= text.Length || text[next] != '\n') break;
            next++;
            var line = text[next..].IndexOfAnyExcept(Base64Chars);
            if (line < 0) line = text.Length - next;
            var padded = line;
            while (next + padded < text.Length && text[next + padded] == '=' && padded - line < 2) padded++;
            // The last line may be shorter, but whole quads: "end" after a block is a word, not its tail.
            if (line == 0 || padded > width || padded % 4 != 0) break;
            joined.Append(text.Slice(next, padded));
            end = next + padded;
            if (padded < width || padded > line) break;
        }
        return end == start + width ? (null, 0) : (joined.ToString(), end);
    }

    /// <summary>The text a run decodes to, or null when it is not base64 or hex of text.</summary>
    public static string? Decode(ReadOnlySpan<char> run)
    {
        // A '=' only as padding at the end.
        var body = run.TrimEnd('=');
        if (body.Length < MinLength || body.Contains('=')) return null;
        bool lower = false, upper = false, digit = false, hexOnly = true;
        foreach (var c in body)
        {
            lower |= char.IsAsciiLetterLower(c);
            upper |= char.IsAsciiLetterUpper(c);
            digit |= char.IsAsciiDigit(c);
            hexOnly &= char.IsAsciiHexDigit(c);
        }
        if (hexOnly && body.Length % 2 == 0 && body.Length == run.Length && digit && !(lower && upper))
        {
            var bytes = new byte[body.Length / 2];
            for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)(Hex(body[2 * i]) * 16 + Hex(body[2 * i + 1]));
            if (AsText(bytes) is { } hexText) return hexText;
        }
        // Base32 (RFC 4648): one case of letters and the digits 2 to 7, eight characters to five bytes.
        if (!(lower && upper) && body.Length % 8 is 0 or 2 or 4 or 5 or 7 && Base32(body) is { } base32Text) return base32Text;
        // Base64 of text mixes cases (and mostly digits): a run of one case is a word or a constant, not base64.
        if (!(lower && (upper || digit))) return null;
        var usable = body.Length - body.Length % 4;
        if (body.Length % 4 is 2 or 3) usable = body.Length; // unpadded tail: two or three characters hold one or two bytes
        var standard = new char[(usable + 3) / 4 * 4];
        for (var i = 0; i < usable; i++) standard[i] = body[i] switch { '-' => '+', '_' => '/', var c => c };
        for (var i = usable; i < standard.Length; i++) standard[i] = '=';
        var decoded = new byte[standard.Length / 4 * 3];
        return (Convert.TryFromBase64Chars(standard, decoded, out var written) ? AsText(decoded.AsSpan(0, written)) : null)
            ?? (run.Length == body.Length ? Base58(body) : null);
    }

    private const string Base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    /// <summary>Base58 (Bitcoin's alphabet: no 0, O, I, l), when the run is all of it: a big number in base 58, its bytes big-endian.</summary>
    private static string? Base58(ReadOnlySpan<char> run)
    {
        if (run.Length > 512) return null;
        var bytes = new List<byte>(run.Length);
        foreach (var c in run)
        {
            var carry = Base58Alphabet.IndexOf(c);
            if (carry < 0) return null;
            for (var i = 0; i < bytes.Count; i++)
            {
                carry += bytes[i] * 58;
                bytes[i] = (byte)carry;
                carry >>= 8;
            }
            for (; carry > 0; carry >>= 8) bytes.Add((byte)carry);
        }
        foreach (var c in run)
        {
            if (c != '1') break;
            bytes.Add(0);
        }
        bytes.Reverse();
        return AsText([.. bytes]);
    }

    private const string Rfc1924 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~";

    private static readonly SearchValues<char> Blanks = SearchValues.Create(" \t\r\n\f\v");
    private static readonly SearchValues<char> Punctuation = SearchValues.Create("!\"#$%&'()*,;<>?[\\]^`{|}~");

    /// <summary>
    /// Ascii85 (btoa, PostScript/PDF: between &lt;~ ~&gt; or bare) and base85 (RFC 1924, git, Python's b85encode): a blank-delimited
    /// run of 16 characters or more with punctuation base64 has not, decoded as either, searched when it is text.
    /// </summary>
    private static void Base85(ReadOnlySpan<char> text, TextMasker masker, List<Finding> findings, int depth, ref int budget)
    {
        if (text.IndexOfAny(Punctuation) < 0) return;
        for (var at = 0; at < text.Length;)
        {
            var start = text[at..].IndexOfAnyExcept(Blanks);
            if (start < 0) break;
            start += at;
            var length = text[start..].IndexOfAny(Blanks);
            if (length < 0) length = text.Length - start;
            at = start + length;
            var token = text.Slice(start, length);
            var (from, to) = (0, token.Length);
            if (token.StartsWith("<~") && token.EndsWith("~>") && token.Length > 4) (from, to) = (2, token.Length - 2);
            var body = token[from..to];
            if (body.Length < MinLength || body.Length > MaxLength || body.IndexOfAny(Punctuation) < 0) continue;
            var decoded = Decode85(body, ascii: true) ?? Decode85(body, ascii: false) ?? Decode85(body, ascii: false, Z85);
            if (decoded is null) continue;
            if (budget <= 0)
            {
                findings.Add(UnsearchedRun(start, length));
                continue;
            }
            budget -= decoded.Length;
            var inner = new List<Finding>();
            masker.Find(decoded, masker.Admitted(TextTraits.Of(decoded)), inner, depth + 1);
            if (inner.Count == 0) continue;
            var strongest = inner.MaxBy(f => f.Priority);
            findings.Add(new Finding(start, length, strongest.Entity, strongest.Priority));
        }
    }

    /// <summary>ZeroMQ's Z85 (RFC 32/Z85): its own order of the 85 characters.</summary>
    private const string Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

    private static string? Decode85(ReadOnlySpan<char> body, bool ascii, string alphabet = Rfc1924)
    {
        var bytes = new List<byte>(body.Length);
        Span<int> group = stackalloc int[5];
        var count = 0;
        foreach (var c in body)
        {
            if (ascii && c == 'z' && count == 0)
            {
                bytes.AddRange([0, 0, 0, 0]);
                continue;
            }
            var value = ascii ? (c is >= '!' and <= 'u' ? c - '!' : -1) : alphabet.IndexOf(c);
            if (value < 0) return null;
            group[count++] = value;
            if (count < 5) continue;
            if (!Emit(group, 4, bytes)) return null;
            count = 0;
        }
        if (count == 1) return null;
        if (count > 0)
        {
            for (var i = count; i < 5; i++) group[i] = 84;
            if (!Emit(group, count - 1, bytes)) return null;
        }
        return AsText([.. bytes]);
    }

    private static bool Emit(ReadOnlySpan<int> group, int take, List<byte> bytes)
    {
        long value = 0;
        foreach (var digit in group) value = value * 85 + digit;
        if (value > uint.MaxValue) return false;
        for (var i = 0; i < take; i++) bytes.Add((byte)(value >> (24 - 8 * i)));
        return true;
    }

    private static string? Base32(ReadOnlySpan<char> body)
    {
        var bytes = new byte[body.Length * 5 / 8];
        int buffer = 0, bits = 0, written = 0;
        foreach (var c in body)
        {
            var value = c switch { >= 'A' and <= 'Z' => c - 'A', >= 'a' and <= 'z' => c - 'a', >= '2' and <= '7' => c - '2' + 26, _ => -1 };
            if (value < 0) return null;
            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                bytes[written++] = (byte)(buffer >> bits);
                buffer &= (1 << bits) - 1;
            }
        }
        return AsText(bytes.AsSpan(0, written));
    }

    private static bool Utf16Zeros(ReadOnlySpan<byte> bytes, int from)
    {
        for (var i = from; i < bytes.Length; i += 2)
            if (bytes[i] != 0) return false;
        return true;
    }

    private static int Hex(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;

    // Valid UTF-8 of which nearly every character is printable or a line break: text, not binary.
    private static string? AsText(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 8) return null;
        string text;
        if (Utf8.IsValid(bytes) && bytes.IndexOf((byte)0) < 0) text = Encoding.UTF8.GetString(bytes);
        // UTF-16 (a Windows or Java string's bytes): every other byte zero.
        else if (bytes.Length % 2 == 0 && (Utf16Zeros(bytes, 1) || Utf16Zeros(bytes, 0)))
            text = (Utf16Zeros(bytes, 1) ? Encoding.Unicode : Encoding.BigEndianUnicode).GetString(bytes);
        else return null;
        var printable = 0;
        foreach (var c in text)
            if (c is '\t' or '\n' or '\r' || (c >= ' ' && c != '\u007f' && !char.IsControl(c) && c != '\uFFFD')) printable++;
        return printable >= text.Length * 0.95 ? text : null;
    }
}
