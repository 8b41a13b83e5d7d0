using System.Buffers;
using System.Globalization;
using System.Text;

namespace Portcullis.Defaults.Masking;

/// <summary>
/// A text as the detectors read it, with where each of its characters came from in the original: the
/// detectors run on <see cref="Text"/>, and a finding there masks the original span it maps to.
/// </summary>
public sealed class NormalisedText(string text, int[] starts, int[] ends)
{
    public string Text => text;

    /// <summary>The original span of the normalised characters [start, start + length).</summary>
    public (int Start, int Length) Original(int start, int length)
    {
        var from = starts[start];
        return (from, ends[start + length - 1] - from);
    }
}

/// <summary>
/// Folds the disguises a value can wear into the plain ASCII the detectors know, one original character (or
/// escape, or spelling) to zero or more ASCII characters, keeping the map back:
/// format characters (zero-width spaces and joiners, BOM, soft hyphen, bidi marks) and combining marks are
/// dropped; everything else goes through NFKC (full-width forms, ligatures, mathematical letters and digits);
/// Latin letters with diacritics lose them; Cyrillic and Greek letters that look Latin become that letter;
/// any other letter becomes <c>x</c> (an internationalised domain is still a domain), any decimal digit its
/// ASCII digit, any space a space, any dash a hyphen, the ideographic full stops a dot; percent-escapes are
/// decoded; <c>[at]</c>, <c>(at)</c>, <c>{at}</c>, <c> at </c>, <c>[dot]</c>, <c> dot </c> and the like become
/// <c>@</c> and <c>.</c>. The result is always ASCII, so the hand-written matchers apply to it.
/// </summary>
public static class TextNormaliser
{
    private const char Drop = '\0';

    // Per BMP character, filled on first use: its one ASCII replacement, Drop, or Expands (the few that become
    // several characters, kept in Expansions). Unknown until then: a char write is atomic, so threads may race to fill it.
    private const char Unknown = '\uFFFF', Expands = '\u0001';
    private static readonly char[] Fold = MakeFold();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<char, string> Expansions = new();

    private static char[] MakeFold()
    {
        var fold = new char[65536];
        Array.Fill(fold, Unknown);
        for (var c = 0; c < 128; c++) fold[c] = (char)c;
        return fold;
    }

    private static char FoldOf(char c)
    {
        var fold = Fold[c];
        if (fold != Unknown) return fold;
        var folded = char.IsSurrogate(c) ? "~" : FoldOne(c.ToString());
        if (folded.Length == 0) fold = Drop;
        else if (folded.Length == 1) fold = folded[0];
        else
        {
            Expansions[c] = folded;
            fold = Expands;
        }
        Fold[c] = fold;
        return fold;
    }

    // HTML named references of the characters a value is made of (and the blanks and marks that hide between them).
    private static readonly Dictionary<string, string> NamedEntities = new(StringComparer.OrdinalIgnoreCase)
    {
        ["commat"] = "@", ["period"] = ".", ["lowbar"] = "_", ["UnderBar"] = "_", ["hyphen"] = "-", ["dash"] = "-", ["minus"] = "-",
        ["plus"] = "+", ["num"] = "#", ["percnt"] = "%", ["colon"] = ":", ["sol"] = "/", ["excl"] = "!", ["dollar"] = "$",
        ["apos"] = "'", ["quot"] = "\"", ["lpar"] = "(", ["rpar"] = ")", ["lsqb"] = "[", ["rsqb"] = "]", ["lbrack"] = "[", ["rbrack"] = "]",
        ["lcub"] = "{", ["rcub"] = "}", ["lbrace"] = "{", ["rbrace"] = "}", ["comma"] = ",", ["semi"] = ";", ["equals"] = "=",
        ["nbsp"] = " ", ["ensp"] = " ", ["emsp"] = " ", ["thinsp"] = " ", ["hairsp"] = " ", ["puncsp"] = " ", ["numsp"] = " ",
        ["shy"] = "", ["zwj"] = "", ["zwnj"] = "", ["lrm"] = "", ["rlm"] = "", ["NoBreak"] = "", ["ZeroWidthSpace"] = "",
        ["InvisibleTimes"] = "", ["InvisibleComma"] = "",
    };

    private static readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> NamedLookup = NamedEntities.GetAlternateLookup<ReadOnlySpan<char>>();

    // The ASCII tricks that make an all-ASCII text worth normalising.
    private static readonly SearchValues<string> Tricks = SearchValues.Create(
        ["%", "[at]", "(at)", "{at}", "<at>", "[@]", "(@)", "{@}", " at ", "[dot]", "(dot)", "{dot}", "<dot>", "[.]", "(.)", "{.}", " dot ",
         "[ at ]", "( at )", "[ dot ]", "( dot )", "&#", "&amp;#", "\\", "_at_", "-at-", "*at*", "_dot_", "-dot-", "*dot*", " period ",
         ")@", "@(", "\"@", "@[", "chr(", "char(", "chr (", "char (",
         .. NamedEntities.Keys.Select(name => "&" + name)],
        StringComparison.OrdinalIgnoreCase);

    private static readonly SearchValues<string> AtBefore = SearchValues.Create(["@", " at ", "[at]", "(at)", "{at}", "<at>", "_at_", "-at-", "*at*", "&#64", "%40", "\uFF20", "&commat;"],
        StringComparison.OrdinalIgnoreCase);

    // Words that stand before " at " in prose; "look at example.com" is not an address.
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> ProseBeforeAt = new HashSet<string>(
    [
        "look", "looks", "looked", "looking", "arrive", "arrives", "arrived", "meet", "met", "be", "is", "are", "was", "were", "am", "been",
        "stay", "stayed", "live", "lives", "lived", "work", "works", "worked", "working", "available", "hosted", "located", "based", "found",
        "see", "seen", "me", "us", "him", "her", "them", "it", "you", "we", "they", "i", "here", "there", "online", "up", "down", "out", "off",
        "back", "aim", "aimed", "point", "points", "pointed", "stop", "stopped", "start", "started", "open", "opened", "published", "deployed",
        "served", "running", "runs", "run", "listen", "listening", "listens", "call", "reach", "reached", "click", "go", "goes", "went", "shop",
        "buy", "sold", "docs", "both", "all", "only", "even", "just", "not", "or", "and", "but", "also", "priced", "valued", "least", "most",
        "once", "home", "school", "logged", "signed", "login", "fail", "failed", "fails", "error", "errors", "crash", "crashed", "exit", "exited",
        "stored", "saved", "kept", "held", "set", "data", "files", "file", "service", "host", "hosts", "server", "site", "page", "mirror",
        "mirrored", "copy", "copies", "downloaded", "uploaded", "read", "written", "wrote", "write", "check", "checked", "try", "tried", "get",
        "got", "post", "posted", "connect", "connected", "connecting", "bound", "listen", "serve", "serving", "mounted", "installed", "hit",
    ], StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>What one character (or surrogate pair) becomes: ASCII only, possibly empty.</summary>
    private static string FoldOne(string original)
    {
        var category = CharUnicodeInfo.GetUnicodeCategory(original, 0);
        if (category is UnicodeCategory.Format or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.EnclosingMark or UnicodeCategory.Control) return original[0] < 128 ? original : "";
        var rune = Rune.GetRuneAt(original, 0);
        // The services run without ICU (invariant globalization), where string.Normalize cannot fold: the
        // compatibility forms (full-width, ligatures, mathematical, circled, letters with diacritics) come from a table.
        return Compatibility.TryGetValue(rune.Value, out var ascii) ? ascii : FoldRune(rune);
    }

    private static readonly Dictionary<int, string> Compatibility = CompatibilityFolds.Table.Split('\n')
        .Where(line => line.Length > 5)
        .ToDictionary(line => int.Parse(line.AsSpan(0, 5), NumberStyles.HexNumber, CultureInfo.InvariantCulture), line => line[5..]);

    private static string FoldRune(Rune rune)
    {
        if (rune.IsAscii) return rune.ToString();
        if (Confusables.TryGetValue(rune.Value, out var latin)) return latin.ToString();
        var category = Rune.GetUnicodeCategory(rune);
        switch (category)
        {
            case UnicodeCategory.Format or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark:
                return "";
            case UnicodeCategory.DecimalDigitNumber:
                return ((char)('0' + (int)Rune.GetNumericValue(rune))).ToString();
            case UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator:
                return " ";
            case UnicodeCategory.DashPunctuation:
                return "-";
        }
        if (rune.Value is 0x2212 or 0x2043) return "-"; // minus sign, hyphen bullet
        if (rune.Value is 0x3002 or 0xFF61 or 0xFF0E) return "."; // ideographic full stops: IDNA reads them as dots
        if (rune.Value is 0x2018 or 0x2019 or 0x201A or 0x201B) return "'";
        if (rune.Value is 0x201C or 0x201D or 0x201E or 0x201F or 0x00AB or 0x00BB) return "\"";
        // Any other letter is a letter all the same (an internationalised domain is a domain).
        if (Rune.IsLetter(rune)) return Rune.IsUpper(rune) ? "X" : "x";
        return "~";
    }

    // Letters of other scripts that are drawn like Latin ones (Unicode's confusables, the Latin look-alikes of
    // Cyrillic, Greek and Armenian letters, and a few Latin extensions).
    private static readonly Dictionary<int, char> Confusables = MakeConfusables();

    private static Dictionary<int, char> MakeConfusables()
    {
        var map = new Dictionary<int, char>();
        void Add(string from, string to)
        {
            for (var i = 0; i < from.Length; i++) map[from[i]] = to[i];
        }
        Add("АВЕЅІЈКМНОРСТХУҮ", "ABESIJKMHOPCTXYY"); // Cyrillic capitals
        Add("аеорсухѕіјһԁԛԝӏү", "aeopcyxsijhdqwly"); // Cyrillic small letters
        Add("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX"); // Greek capitals
        Add("οινρχϲϳαυκ", "oivpxcjauk"); // Greek small letters
        Add("օսոհցզɡɑıȷʏ", "ounhgqgaijy"); // Armenian, Latin extensions
        return map;
    }

    /// <summary>Whether <paramref name="text"/> may read differently once normalised: not all ASCII, or an ASCII trick in it.</summary>
    public static bool Needs(ReadOnlySpan<char> text) => !Ascii.IsValid(text) || text.IndexOfAny(Tricks) >= 0;

    /// <summary>The normalised text, or null when it is the text itself.</summary>
    public static NormalisedText? Normalise(ReadOnlySpan<char> text)
    {
        var output = new StringBuilder(text.Length);
        var starts = new List<int>(text.Length);
        var ends = new List<int>(text.Length);
        var changed = false;
        void Emit(char c, int start, int end)
        {
            output.Append(c);
            starts.Add(start);
            ends.Add(end);
        }
        void EmitAll(string s, int start, int end)
        {
            foreach (var c in s) Emit(c, start, end);
        }

        for (var i = 0; i < text.Length;)
        {
            var c = text[i];
            if (c < 128)
            {
                if (c == '%' && TryPercent(text, i, out var decoded, out var consumed))
                {
                    EmitAll(decoded, i, i + consumed);
                    i += consumed;
                    changed = true;
                    continue;
                }
                if (c == '\\' && TryBackslash(text, i, out var unescaped, out var escapedLength))
                {
                    EmitAll(unescaped, i, i + escapedLength);
                    i += escapedLength;
                    changed = true;
                    continue;
                }
                if (c == '&' && TryEntity(text, i, out var entity, out var entityLength))
                {
                    EmitAll(entity, i, i + entityLength);
                    i += entityLength;
                    changed = true;
                    continue;
                }
                if (c is 'c' or 'C' or 'n' or 'N' or '\'' && TrySqlChars(text, i, out var sql, out var sqlLength))
                {
                    EmitAll(sql, i, i + sqlLength);
                    i += sqlLength;
                    changed = true;
                    continue;
                }
                if (c is '(' or '"' or '@' && TryAddressPart(text, i, output, out var part, out var partLength))
                {
                    EmitAll(part, i, i + partLength);
                    i += partLength;
                    changed = true;
                    continue;
                }
                if (c is ' ' or '[' or '(' or '{' or '<' or '_' or '-' or '*' && TrySpelled(text, i, out var symbol, out var spelledLength))
                {
                    Emit(symbol, i, i + spelledLength);
                    i += spelledLength;
                    changed = true;
                    continue;
                }
                Emit(c, i, i + 1);
                i++;
                continue;
            }
            changed = true;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                EmitAll(FoldOne(new string([c, text[i + 1]])), i, i + 2);
                i += 2;
                continue;
            }
            var fold = FoldOf(c);
            if (fold == Expands) EmitAll(Expansions[c], i, i + 1);
            else if (fold != Drop) Emit(fold, i, i + 1);
            i++;
        }
        return changed ? new NormalisedText(output.ToString(), [.. starts], [.. ends]) : null;
    }

    /// <summary>
    /// SQL that builds a value from code points: CHR(97)||CHR(108), CHAR(97)+CHAR(108), CONCAT(CHAR(97),CHAR(108)), CHAR(97,108,105),
    /// NCHAR(97), with the literals ('ali') and the concatenation operators between the calls taken in, as the text it builds.
    /// </summary>
    private static bool TrySqlChars(ReadOnlySpan<char> text, int at, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        if (at > 0 && (char.IsAsciiLetterOrDigit(text[at - 1]) || text[at - 1] == '_')) return false;
        var built = new StringBuilder();
        var (i, end, calls) = (at, at, 0);
        while (true)
        {
            if (SqlCall(text, i, built) is var call and > 0) (i, calls) = (call, calls + 1);
            else if (i < text.Length && text[i] == '\'' && SqlLiteral(text, i, built) is var literal and > 0) i = literal;
            else break;
            end = i;
            var j = i;
            while (j < text.Length && text[j] == ' ') j++;
            if (j + 1 < text.Length && text[j] == '|' && text[j + 1] == '|') j += 2;
            else if (j < text.Length && text[j] is '+' or ',') j++;
            else break;
            while (j < text.Length && text[j] == ' ') j++;
            i = j;
        }
        if (calls == 0 || built.Length == 0) return false;
        (decoded, consumed) = (built.ToString(), end - at);
        return true;
    }

    // CHR(n), CHAR(n, ...), NCHAR(n): where the call ends, its characters appended; 0 when there is none.
    private static int SqlCall(ReadOnlySpan<char> text, int at, StringBuilder built)
    {
        var rest = text[at..];
        var name = rest.StartsWith("nchar", StringComparison.OrdinalIgnoreCase) ? 5 : rest.StartsWith("char", StringComparison.OrdinalIgnoreCase) ? 4
            : rest.StartsWith("chr", StringComparison.OrdinalIgnoreCase) ? 3 : 0;
        if (name == 0) return 0;
        var i = at + name;
        while (i < text.Length && text[i] == ' ') i++;
        if (i >= text.Length || text[i] != '(') return 0;
        var mark = built.Length;
        while (true)
        {
            i++;
            while (i < text.Length && text[i] == ' ') i++;
            var digits = 0;
            while (i + digits < text.Length && char.IsAsciiDigit(text[i + digits]) && digits < 8) digits++;
            if (digits == 0 || !int.TryParse(text.Slice(i, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                || !Printable(value, 0, out var one, out _))
            {
                built.Length = mark;
                return 0;
            }
            built.Append(one);
            i += digits;
            while (i < text.Length && text[i] == ' ') i++;
            if (i < text.Length && text[i] == ',') continue;
            if (i < text.Length && text[i] == ')') return i + 1;
            built.Length = mark;
            return 0;
        }
    }

    // 'literal' ('' a quote inside): where it ends, its characters appended; 0 when it does not close within a value's length.
    private static int SqlLiteral(ReadOnlySpan<char> text, int at, StringBuilder built)
    {
        var mark = built.Length;
        for (var i = at + 1; i < text.Length && i - at < 256; i++)
        {
            if (text[i] != '\'')
            {
                built.Append(text[i] < 128 ? text[i] : '~');
                continue;
            }
            if (i + 1 < text.Length && text[i + 1] == '\'')
            {
                built.Append('\'');
                i++;
                continue;
            }
            return i + 1;
        }
        built.Length = mark;
        return 0;
    }

    private static bool LocalChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '%' or '+' or '-';

    /// <summary>
    /// The parts of an address RFC 5322 allows that the detector's pattern does not: a comment in the local part or after
    /// the '@' (alice(work)@example.com, alice@(work)example.com), dropped; a quoted local part ("alice smith"@example.com),
    /// its quotes dropped and its other characters made local-part ones; a domain literal (alice@[127.0.0.1],
    /// alice@[IPv6:2001:db8::1]), read as a domain of x's.
    /// </summary>
    private static bool TryAddressPart(ReadOnlySpan<char> text, int at, StringBuilder before, out string part, out int length)
    {
        (part, length) = ("", 0);
        var c = text[at];
        var window = text[(at + 1)..Math.Min(text.Length, at + 66)];
        if (c == '(')
        {
            var close = window.IndexOf(')');
            if (close < 0 || window[..close].IndexOf('(') >= 0 || at + close + 2 >= text.Length) return false;
            var next = text[at + close + 2];
            var comment = before.Length > 0 && (LocalChar(before[^1]) && next == '@' || before[^1] == '@' && char.IsAsciiLetterOrDigit(next));
            if (!comment) return false;
            length = close + 2;
            return true;
        }
        if (c == '"')
        {
            var close = window.IndexOf('"');
            if (close < 1 || at + close + 2 >= text.Length || text[at + close + 2] != '@' || (before.Length > 0 && LocalChar(before[^1]))) return false;
            var local = new StringBuilder(close);
            foreach (var q in window[..close]) local.Append(LocalChar(q) ? q : '_');
            (part, length) = (local.ToString(), close + 2);
            return true;
        }
        if (c == '@' && window.Length > 0 && window[0] == '[')
        {
            var close = window.IndexOf(']');
            if (close < 2) return false;
            var literal = window[1..close];
            var domain = new StringBuilder("@", close + 4);
            foreach (var d in literal)
            {
                if (!(char.IsAsciiLetterOrDigit(d) || d is '.' or ':')) return false;
                domain.Append(d == '.' ? '.' : 'x');
            }
            (part, length) = (domain.Append(".xx").ToString(), close + 2);
            return true;
        }
        return false;
    }

    /// <summary>One character's fold, for callers that fold without a map (key names).</summary>
    public static string FoldForKey(ReadOnlySpan<char> text)
    {
        if (Ascii.IsValid(text)) return text.ToString();
        return Normalise(text)?.Text ?? text.ToString();
    }

    private static int Hex(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    private static int EscapedByte(ReadOnlySpan<char> text, int at) =>
        at + 2 < text.Length && text[at] == '%' && Hex(text[at + 1]) is var high and >= 0 && Hex(text[at + 2]) is var low and >= 0
            ? high * 16 + low : -1;

    // %XX, and a UTF-8 sequence of them (%C3%A4), decoded and folded like any character; %uXXXX as JavaScript's escape() writes.
    private static bool TryPercent(ReadOnlySpan<char> text, int at, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        if (at + 5 < text.Length && text[at + 1] is 'u' or 'U' && HexValue(text.Slice(at + 2, 4)) is var unit and >= 0)
            return CodeUnits(text, at, 6, unit, "%u", out decoded, out consumed);
        var first = EscapedByte(text, at);
        if (first < 0) return false;
        if (first == '%')
        {
            // %2540, %252540...: a '%' escaped once more, or several times, decoded every time.
            var next = at + 3;
            while (next + 3 < text.Length && text[next] == '2' && text[next + 1] == '5' && next - at < 64) next += 2;
            if (next + 1 < text.Length && Hex(text[next]) >= 0 && Hex(text[next + 1]) >= 0)
            {
                var inner = $"%{text[next]}{text[next + 1]}";
                if (TryPercent(inner, 0, out decoded, out _))
                {
                    consumed = next + 2 - at;
                    return true;
                }
            }
        }
        if (first < 0x80)
        {
            (decoded, consumed) = (FoldAscii((char)first), 3);
            return true;
        }
        var continuation = first switch { >= 0xC2 and <= 0xDF => 1, >= 0xE0 and <= 0xEF => 2, >= 0xF0 and <= 0xF4 => 3, _ => -1 };
        if (continuation < 0) return false;
        Span<byte> bytes = stackalloc byte[4];
        bytes[0] = (byte)first;
        for (var k = 1; k <= continuation; k++)
        {
            var next = EscapedByte(text, at + 3 * k);
            if (next is < 0x80 or > 0xBF) return false;
            bytes[k] = (byte)next;
        }
        if (Rune.DecodeFromUtf8(bytes[..(continuation + 1)], out var rune, out _) != OperationStatus.Done) return false;
        (decoded, consumed) = (FoldOne(rune.ToString()), 3 * (continuation + 1));
        return true;
    }

    private static string FoldAscii(char c) => c.ToString();

    private static int HexValue(ReadOnlySpan<char> digits)
    {
        var value = 0;
        foreach (var digit in digits)
        {
            var v = Hex(digit);
            if (v < 0) return -1;
            value = value * 16 + v;
        }
        return value;
    }

    /// <summary>
    /// A backslash escape as JSON, JavaScript, Python, C# and C write one: \uXXXX (a surrogate pair as two), \u{X...},
    /// \UXXXXXXXX and \xXX. Text escaped once more than it is read (a JSON string inside a string, a log line of one)
    /// still says ada\u0040example.com; it is read as what it stands for.
    /// </summary>
    private static bool TryBackslash(ReadOnlySpan<char> text, int at, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        if (at + 1 >= text.Length) return false;
        switch (text[at + 1])
        {
            case 'u' when at + 2 < text.Length && text[at + 2] == '{':
                var close = text[(at + 3)..].IndexOf('}');
                if (close is < 1 or > 6) return false;
                var braced = HexValue(text.Slice(at + 3, close));
                return braced >= 0 && Decoded(braced, close + 4, out decoded, out consumed);
            case 'u' when at + 5 < text.Length && HexValue(text.Slice(at + 2, 4)) is var unit and >= 0:
                return CodeUnits(text, at, 6, unit, "\\u", out decoded, out consumed);
            case 'U' when at + 9 < text.Length && HexValue(text.Slice(at + 2, 8)) is var wide and >= 0:
                return Decoded(wide, 10, out decoded, out consumed);
            case 'x' when at + 3 < text.Length && HexValue(text.Slice(at + 2, 2)) is var single and >= 0:
                return Decoded(single, 4, out decoded, out consumed);
            case >= '0' and <= '3' when at + 3 < text.Length && text[at + 2] is >= '0' and <= '7' && text[at + 3] is >= '0' and <= '7'
                                       && (text[at + 1] - '0') * 64 + (text[at + 2] - '0') * 8 + (text[at + 3] - '0') is >= 0x20 and < 0x7F
                                       && (at + 4 >= text.Length || !char.IsWhiteSpace(text[at + 4])):
                // Octal, as C, Python, the shell and old JavaScript write it: \100 is '@' (read as CSS, \100 would be U+0100, a
                // letter no address is made of; a blank after it is CSS's end of an escape).
                return Printable((text[at + 1] - '0') * 64 + (text[at + 2] - '0') * 8 + (text[at + 3] - '0'), 4, out decoded, out consumed);
            case >= '0' and <= '7' when OctalRun(text, at) is var octal and > 0:
                // One or two octal digits among three-digit ones (\141\56\143: '.' is 56 in octal).
                var code = 0;
                for (var k = 1; k <= octal; k++) code = code * 8 + (text[at + k] - '0');
                return Printable(code, 1 + octal, out decoded, out consumed);
            default:
                // CSS: one to six hex digits, then one blank that ends the escape (\61 lice, \000061lice).
                var digits = 0;
                while (digits < 6 && at + 1 + digits < text.Length && char.IsAsciiHexDigit(text[at + 1 + digits])) digits++;
                if (digits == 0) return false;
                var length = 1 + digits;
                if (at + length < text.Length && text[at + length] is ' ' or '\t' or '\n' or '\f') length++;
                else if (at + length < text.Length && text[at + length] == '\r') length += at + length + 1 < text.Length && text[at + length + 1] == '\n' ? 2 : 1;
                return Printable(HexValue(text.Slice(at + 1, digits)), length, out decoded, out consumed);
        }
    }

    /// <summary>A UTF-16 code unit written as an escape (prefix and four hex digits), a high surrogate with the low one after it.</summary>
    private static bool CodeUnits(ReadOnlySpan<char> text, int at, int length, int unit, string prefix, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        if (unit is >= 0xDC00 and <= 0xDFFF) return false;
        if (unit is < 0xD800 or > 0xDBFF) return Decoded(unit, length, out decoded, out consumed);
        var next = at + length;
        if (next + length > text.Length || !text.Slice(next, prefix.Length).Equals(prefix, StringComparison.OrdinalIgnoreCase)) return false;
        var low = HexValue(text.Slice(next + prefix.Length, 4));
        if (low is < 0xDC00 or > 0xDFFF) return false;
        return Decoded(char.ConvertToUtf32((char)unit, (char)low), 2 * length, out decoded, out consumed);
    }

    // The digits of a short octal escape (one or two, then a backslash or a character that is no digit) that stands next to
    // a three-digit one, before or after it; 0 when it does not.
    private static int OctalRun(ReadOnlySpan<char> text, int at)
    {
        var digits = 0;
        while (digits < 3 && at + 1 + digits < text.Length && text[at + 1 + digits] is >= '0' and <= '7') digits++;
        if (digits is 0 or 3 || (at + 1 + digits < text.Length && char.IsAsciiHexDigit(text[at + 1 + digits]))) return 0;
        static bool Three(ReadOnlySpan<char> text, int from) =>
            from >= 0 && from + 3 < text.Length && text[from] == '\\' && text[from + 1] is >= '0' and <= '3' && text[from + 2] is >= '0' and <= '7' && text[from + 3] is >= '0' and <= '7';
        return Three(text, at - 4) || Three(text, at + 1 + digits) ? digits : 0;
    }

    // A character an escape spells out of a value: not a control character (\d, \b, \1 in a pattern or a path stay as they are).
    private static bool Printable(int value, int length, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        return value >= 0x20 && value != 0x7F && Decoded(value, length, out decoded, out consumed);
    }

    private static bool Decoded(int value, int length, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        if (value is <= 0 or > 0x10FFFF || value is >= 0xD800 and <= 0xDFFF) return false;
        var rune = new Rune(value);
        (decoded, consumed) = (rune.IsAscii ? rune.ToString() : FoldOne(rune.ToString()), length);
        return true;
    }

    // &#64; &#x40; &commat; &period; &#46;: HTML character references, common in scraped pages and mail bodies.
    private static bool TryEntity(ReadOnlySpan<char> text, int at, out string decoded, out int consumed)
    {
        (decoded, consumed) = ("", 0);
        // &amp;#64; : a reference escaped once more than it is read.
        var skip = text[at..].StartsWith("&amp;#", StringComparison.OrdinalIgnoreCase) ? 4 : 0;
        if (at + skip + 2 < text.Length && text[at + skip + 1] == '#')
        {
            // Numeric, with or without its ';' (browsers read &#64 too), any number of leading zeros.
            var from = at + skip + 2;
            var hex = text[from] is 'x' or 'X';
            if (hex) from++;
            var digits = 0;
            while (from + digits < text.Length && (hex ? char.IsAsciiHexDigit(text[from + digits]) : char.IsAsciiDigit(text[from + digits])) && digits < 16) digits++;
            if (digits == 0 || !int.TryParse(text.Slice(from, digits), hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                || value is <= 0 or > 0x10FFFF || (value is >= 0xD800 and <= 0xDFFF)) return false;
            var end = from + digits;
            if (end < text.Length && text[end] == ';') end++;
            var rune = new Rune(value);
            (decoded, consumed) = (rune.IsAscii ? rune.ToString() : FoldOne(rune.ToString()), end - at);
            return true;
        }
        var semi = text.Slice(at, Math.Min(18, text.Length - at)).IndexOf(';');
        if (semi < 2 || !NamedLookup.TryGetValue(text.Slice(at + 1, semi - 1), out var named)) return false;
        (decoded, consumed) = (named, semi + 1);
        return true;
    }

    /// <summary>
    /// A spelled-out '@' or '.': brackets around "at", "@", "dot" or "." (with any spaces inside and around), or
    /// "at"/"dot" between spaces. A bare " at " counts only after a word that is not prose ("look at ...").
    /// </summary>
    private static bool TrySpelled(ReadOnlySpan<char> text, int at, out char symbol, out int length)
    {
        (symbol, length) = ('\0', 0);
        var i = at;
        while (i < text.Length && text[i] == ' ') i++;
        var spacesBefore = i - at;
        if (i >= text.Length) return false;
        var open = text[i];
        var close = open switch { '[' => ']', '(' => ')', '{' => '}', '<' => '>', '_' => '_', '-' => '-', '*' => '*', _ => '\0' };
        var marks = open is '_' or '-' or '*'; // _at_, -at-, *dot*: read like a bare word
        if (close != '\0')
        {
            var j = i + 1;
            while (j < text.Length && text[j] == ' ') j++;
            if (!Word(text, j, out symbol, out var wordLength, brackets: !marks)) return false;
            j += wordLength;
            while (j < text.Length && text[j] == ' ') j++;
            if (j >= text.Length || text[j] != close) return false;
            j++;
            while (j < text.Length && text[j] == ' ') j++;
            // The word before and after must be there: "(at)" alone in prose is not an address.
            if (at == 0 || j >= text.Length || !char.IsAsciiLetterOrDigit(text[j]) || !char.IsAsciiLetterOrDigit(text[at - 1])) return false;
            if (marks && !Plausible(text, at, symbol)) return false;
            length = j - at;
            return true;
        }
        if (spacesBefore == 0 || at == 0 || !Word(text, i, out symbol, out var plainLength, brackets: false)) return false;
        var after = i + plainLength;
        if (after >= text.Length || text[after] != ' ') return false;
        var k = after;
        while (k < text.Length && text[k] == ' ') k++;
        if (k >= text.Length || !char.IsAsciiLetterOrDigit(text[k]) || !char.IsAsciiLetterOrDigit(text[at - 1])) return false;
        if (!Plausible(text, at, symbol)) return false;
        length = k - at;
        return true;
    }

    // A bare " dot " only in the domain of an address already begun: "polka dot dress" stays prose; " at " not after a word of prose.
    private static bool Plausible(ReadOnlySpan<char> text, int at, char symbol)
    {
        if (symbol == '.' && text[Math.Max(0, at - 64)..at].IndexOfAny(AtBefore) < 0) return false;
        if (symbol == '@')
        {
            var wordStart = at;
            while (wordStart > 0 && (char.IsAsciiLetterOrDigit(text[wordStart - 1]) || text[wordStart - 1] is '.' or '+')) wordStart--;
            var before = text[wordStart..at];
            if (before.Length < 2 || ProseBeforeAt.Contains(before)) return false;
        }
        return true;
    }

    private static bool Word(ReadOnlySpan<char> text, int at, out char symbol, out int length, bool brackets)
    {
        (symbol, length) = ('\0', 0);
        var rest = text[at..];
        if (rest.StartsWith("at", StringComparison.OrdinalIgnoreCase) && (rest.Length == 2 || !char.IsAsciiLetter(rest[2])))
            (symbol, length) = ('@', 2);
        else if (rest.StartsWith("dot", StringComparison.OrdinalIgnoreCase) && (rest.Length == 3 || !char.IsAsciiLetter(rest[3])))
            (symbol, length) = ('.', 3);
        else if (rest.StartsWith("period", StringComparison.OrdinalIgnoreCase) && (rest.Length == 6 || !char.IsAsciiLetter(rest[6])))
            (symbol, length) = ('.', 6);
        else if (brackets && rest.Length > 0 && rest[0] is '@' or '.')
            (symbol, length) = (rest[0], 1);
        return length > 0;
    }
}
