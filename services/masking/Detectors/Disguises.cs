using Portcullis.Defaults.Masking;
using System.Text;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Readings of a text that undo a disguise the normaliser does not: quoted-printable (<c>=40</c>, soft line
/// breaks), a value spelled out one character at a time with a separator between each ("a l i c e @ ...",
/// "4|1|1|1...", "a.l.i.c.e"), and a value written backwards ("moc.elpmaxe@ecila", a card's digits
/// reversed). Each reading is searched like any text and its findings masked where they came from.
/// Only the entities a disguise is worth the trouble for are kept from these readings (<see cref="Joinable"/>):
/// a bare number read backwards or run together is too often something else.
/// </summary>
public static class Disguises
{
    /// <summary>The fewest characters a spelled-out run must have: "a@b.co" is six.</summary>
    private const int MinSpelled = 6;

    /// <summary>
    /// Entities a reading that joins or reorders characters may report: validated values (emails, cards with
    /// Luhn and an issuer, IBANs with their check) and secrets of a shape of their own (keys, tokens). Phone
    /// numbers, SSNs and addresses are digit shapes that ordinary numbers take as soon as characters are joined, and
    /// the secrets found by what stands before them (a Cookie header, password=) lose that context when cells join.
    /// </summary>
    public static bool Joinable(in Finding finding) =>
        finding.Entity is "EMAIL" or "CARD" or "IBAN"
        || (finding.Priority >= 90 && finding.Entity is not ("COOKIE" or "SECRET_ASSIGNMENT" or "CONNECTION_STRING_PASSWORD"));

    /// <summary>Adds the findings of each reading of <paramref name="text"/> that differs from it.</summary>
    public static void Find(ReadOnlySpan<char> text, TextMasker masker, List<Finding> findings, int depth)
    {
        if (text.Length < MinSpelled) return;
        var count = findings.Count;
        if (HasQuotedPrintable(text) && QuotedPrintable(text) is { } decoded) Add(decoded, masker, findings, depth, all: true);
        if (Spelled(text) is { } collapsed) Add(collapsed, masker, findings, depth, all: false);
        if (NumberWords(text) is { } digits) Add(digits, masker, findings, depth, all: true);
        if (LinesJoined(text) is { } lines) Add(lines, masker, findings, depth, all: false);
        if (LowerIban(text)) Add(new NormalisedText(text.ToString().ToUpperInvariant(), Identity(text.Length, 0), Identity(text.Length, 1)), masker, findings, depth, all: false, entity: "IBAN");
        Reversed(text, masker, findings, count);
    }

    private static void Add(NormalisedText reading, TextMasker masker, List<Finding> findings, int depth, bool all, string? entity = null)
    {
        var inner = new List<Finding>();
        var admitted = masker.Admitted(TextTraits.Of(reading.Text));
        // A reading that collapses characters is searched only for what it may report.
        if (!all) admitted &= masker.Joinable | TextMasker.NormaliseBit;
        if ((admitted & ~TextMasker.NormaliseBit) == 0) return;
        masker.Find(reading.Text, admitted, inner, depth + 1);
        foreach (var finding in inner)
        {
            if ((!all && !Joinable(finding)) || (entity is not null && finding.Entity != entity)) continue;
            var (start, length) = reading.Original(finding.Start, finding.Length);
            findings.Add(finding with { Start = start, Length = length });
        }
    }

    // Whether an '=' stands before two hex digits or a line's end: only then is the text worth decoding.
    private static bool HasQuotedPrintable(ReadOnlySpan<char> text)
    {
        for (var at = text.IndexOf('='); at >= 0 && at + 1 < text.Length; at = text[(at + 1)..].IndexOf('=') is var next and >= 0 ? at + 1 + next : -1)
            if (text[at + 1] is '\r' or '\n' or ' ' or '\t' || (at + 2 < text.Length && char.IsAsciiHexDigit(text[at + 1]) && char.IsAsciiHexDigit(text[at + 2])))
                return true;
        return false;
    }

    /// <summary>
    /// Quoted-printable (RFC 2045): <c>=XX</c> a byte in hex (a UTF-8 sequence of them one character), <c>=</c> at a
    /// line's end a soft break that joins the lines. Null when the text has neither.
    /// </summary>
    public static NormalisedText? QuotedPrintable(ReadOnlySpan<char> text)
    {
        var output = new StringBuilder(text.Length);
        var starts = new List<int>(text.Length);
        var ends = new List<int>(text.Length);
        var changed = false;
        var lastEscape = -1;
        Span<byte> bytes = stackalloc byte[4];
        for (var i = 0; i < text.Length;)
        {
            var c = text[i];
            if (c == '=')
            {
                // Soft line break: '=' then CRLF or LF (trailing blanks before the break allowed).
                var next = i + 1;
                while (next < text.Length && text[next] is ' ' or '\t') next++;
                if (next < text.Length && text[next] == '\r') next++;
                if (next < text.Length && text[next] == '\n')
                {
                    i = next + 1;
                    changed = true;
                    continue;
                }
                var first = Byte(text, i);
                if (first >= 0)
                {
                    var count = first < 0x80 ? 1 : first switch { >= 0xC2 and <= 0xDF => 2, >= 0xE0 and <= 0xEF => 3, >= 0xF0 and <= 0xF4 => 4, _ => 0 };
                    // An ASCII byte counts when it is one quoted-printable must escape or a value's punctuation ("id=12" is not an
                    // escape), or when it stands in a run of escapes (=61=6C=69=63=65: every character escaped).
                    var inRun = lastEscape == i || Byte(text, i + 3) >= 0;
                    var valid = count > 1 || (count == 1 && first >= 0x20 && first < 0x7F && (inRun || !char.IsAsciiLetterOrDigit((char)first)));
                    for (var k = 0; k < count && valid; k++)
                    {
                        var b = k == 0 ? first : Byte(text, i + 3 * k);
                        valid = k == 0 || b is >= 0x80 and <= 0xBF;
                        if (valid) bytes[k] = (byte)b;
                    }
                    if (valid && System.Text.Rune.DecodeFromUtf8(bytes[..count], out var rune, out _) == System.Buffers.OperationStatus.Done)
                    {
                        var decoded = rune.ToString();
                        foreach (var d in decoded)
                        {
                            output.Append(d);
                            starts.Add(i);
                            ends.Add(i + 3 * count);
                        }
                        i += 3 * count;
                        lastEscape = i;
                        changed = true;
                        continue;
                    }
                }
            }
            output.Append(c);
            starts.Add(i);
            ends.Add(i + 1);
            i++;
        }
        return changed && output.Length > 0 ? new NormalisedText(output.ToString(), [.. starts], [.. ends]) : null;
    }

    private static int Byte(ReadOnlySpan<char> text, int at) =>
        at + 2 < text.Length && text[at] == '=' && char.IsAsciiHexDigit(text[at + 1]) && char.IsAsciiHexDigit(text[at + 2])
            ? Convert.ToInt32(text.Slice(at + 1, 2).ToString(), 16) : -1;

    private static readonly System.Buffers.SearchValues<char> Spacers = System.Buffers.SearchValues.Create(" \t.-_,;:|/\\*+~\u00A0");

    private static bool IsSpacer(char c) => c is ' ' or '\t' or '.' or '-' or '_' or ',' or ';' or ':' or '|' or '/' or '\\' or '*' or '+' or '~' or '\u00A0';

    /// <summary>
    /// Runs of single characters with the same separator between each (one of <see cref="IsSpacer"/>, or up to three
    /// blanks), at least <see cref="MinSpelled"/> of them, collapsed into the characters alone; the rest of the text as
    /// it is. Null when there is no such run.
    /// </summary>
    public static NormalisedText? Spelled(ReadOnlySpan<char> text)
    {
        StringBuilder? output = null;
        List<int>? starts = null, ends = null;
        var copied = 0;
        for (var i = 0; i + 2 < text.Length; i++)
        {
            // Straight to the next separator: the character before it may begin a run.
            var spacer = text[(i + 1)..].IndexOfAny(Spacers);
            if (spacer < 0) break;
            i += spacer;
            var between = text[i + 1];
            if (!(between is ' ' or '\t' or '\u00A0') && (i + 3 >= text.Length || text[i + 3] != between || char.IsWhiteSpace(text[i + 2]))) continue;
            // A run begins with a character that is not a separator, after the text's start or a blank/separator.
            if (char.IsWhiteSpace(text[i]) || (i > 0 && char.IsLetterOrDigit(text[i - 1])) || !IsSpacer(text[i + 1])) continue;
            var sep = text[i + 1];
            var blank = sep is ' ' or '\t' or '\u00A0';
            var count = 1;
            var end = i + 1; // the end of the last character taken
            var at = i + 1;
            while (at < text.Length)
            {
                var gap = 0;
                if (blank) while (at + gap < text.Length && gap < 3 && text[at + gap] is ' ' or '\t' or '\u00A0') gap++;
                else if (text[at] == sep) gap = 1;
                if (gap == 0 || at + gap >= text.Length || char.IsWhiteSpace(text[at + gap])) break;
                // The character after the gap stands alone: followed by the separator, or by the run's end.
                var next = at + gap;
                if (next + 1 < text.Length && !char.IsWhiteSpace(text[next + 1]) && !(blank ? false : text[next + 1] == sep) && !IsSpacer(text[next + 1])) break;
                count++;
                end = next + 1;
                at = end;
            }
            if (count < MinSpelled)
            {
                continue;
            }
            output ??= new StringBuilder(text.Length);
            starts ??= new List<int>(text.Length);
            ends ??= new List<int>(text.Length);
            for (var k = copied; k < i; k++)
            {
                output.Append(text[k]);
                starts.Add(k);
                ends.Add(k + 1);
            }
            // The characters of the run: every other position, past the gaps.
            for (var k = i; k < end;)
            {
                output.Append(text[k]);
                starts.Add(k);
                ends.Add(k + 1);
                k++;
                if (k >= end) break;
                if (blank) while (k < end && text[k] is ' ' or '\t' or '\u00A0') k++;
                else k++;
            }
            copied = end;
            i = end - 1;
        }
        return Finish(text, output, starts, ends, copied);
    }

    /// <summary>
    /// The text backwards, searched for emails and cards only (a card's Luhn check still holds its digits to the
    /// real thing), when it has what either needs: an '@' and a dot, or thirteen digits.
    /// </summary>
    private static void Reversed(ReadOnlySpan<char> text, TextMasker masker, List<Finding> findings, int found)
    {
        if (text.IndexOf('@') < 0 && text.IndexOfAnyInRange('0', '9') < 0) return;
        // What the forward search found is not searched again backwards: an address already masked, a card already found.
        var email = false;
        var digits = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '@' && !char.IsAsciiDigit(c)) continue;
            var covered = false;
            for (var k = 0; k < found && !covered; k++) covered = i >= findings[k].Start && i < findings[k].End;
            if (covered) continue;
            if (c == '@') email = true;
            else digits++;
        }
        email &= text.IndexOf('.') >= 0;
        var card = digits >= 13 && DigitShape.Of(text).LongestCardChain >= 13;
        if (!email && !card) return;
        var reversed = new char[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[text.Length - 1 - i];
            // A surrogate pair stays in order.
            reversed[i] = c;
        }
        var inner = new List<Finding>();
        // Read as it is (normalised), not decoded further: a reading of a reading is not read backwards again.
        masker.Find(reversed, masker.Admitted(TextTraits.Of(reversed)) & (masker.Reversible | TextMasker.NormaliseBit), inner, TextMasker.MaxDepth);
        foreach (var finding in inner)
        {
            if (finding.Entity is not ("EMAIL" or "CARD")) continue;
            var start = text.Length - finding.Start - finding.Length;
            // One number in ten passes Luhn backwards: an order or invoice number is not read as a card written backwards.
            if (finding.Entity == "CARD" && DigitChains.Preceded(text, start, 24, IdentifierWords)) continue;
            findings.Add(finding with { Start = start });
        }
    }

    private static int[] Identity(int length, int shift)
    {
        var map = new int[length];
        for (var i = 0; i < length; i++) map[i] = i + shift;
        return map;
    }

    /// <summary>
    /// Whether a word could begin an IBAN written in lower case ("gb82 west 1234 ...", "Gb82West..."): two letters, not
    /// both capitals, and two digits, after no letter or digit, with twelve letters or digits more. The text is then
    /// read in capitals for IBANs alone (their check digits hold the reading to a real one).
    /// </summary>
    public static bool LowerIban(ReadOnlySpan<char> text)
    {
        for (var at = text.IndexOfAnyInRange('0', '9'); at >= 0 && at + 1 < text.Length; at = text[(at + 1)..].IndexOfAnyInRange('0', '9') is var n and >= 0 ? at + 1 + n : -1)
        {
            if (at < 2 || !char.IsAsciiDigit(text[at + 1]) || !char.IsAsciiLetter(text[at - 1]) || !char.IsAsciiLetter(text[at - 2])
                || (char.IsAsciiLetterUpper(text[at - 1]) && char.IsAsciiLetterUpper(text[at - 2])) || (at > 2 && char.IsAsciiLetterOrDigit(text[at - 3]))) continue;
            var alnum = 0;
            for (var k = at + 2; k < text.Length && alnum < 12 && (char.IsAsciiLetterOrDigit(text[k]) || text[k] is ' ' or '-' or '.'); k++)
                if (char.IsAsciiLetterOrDigit(text[k])) alnum++;
            if (alnum >= 12) return true;
        }
        return false;
    }

    /// <summary>
    /// Digit groups continued on the next line ("4111 1111\n1111 1111", "41111111\r\n11111111", an IBAN's groups wrapped):
    /// each line break between a digit (or a separator after one) and a letter or digit becomes the separator the
    /// line's groups use, or nothing. Null when there is no such break.
    /// </summary>
    public static NormalisedText? LinesJoined(ReadOnlySpan<char> text)
    {
        var first = text.IndexOfAny('\n', '\r');
        if (first < 0) return null;
        StringBuilder? output = null;
        List<int>? starts = null, ends = null;
        var copied = 0;
        for (var i = first; i < text.Length; i++)
        {
            if (text[i] is not ('\n' or '\r')) continue;
            var end = i;
            while (end < text.Length && text[end] is '\r' or '\n' && end - i < 2) end++;
            var next = end;
            while (next < text.Length && text[next] is ' ' or '\t' && next - end < 16) next++; // indentation
            var before = i - 1;
            var trailing = before >= 0 && text[before] is ' ' or '-' or '.' or '/' or '_';
            if (trailing) before--;
            if (before < 0 || !char.IsAsciiDigit(text[before]) && !(char.IsAsciiLetterUpper(text[before]) && !trailing)
                || next >= text.Length || !char.IsAsciiLetterOrDigit(text[next]))
            {
                i = end - 1;
                continue;
            }
            // The separator the line's last group follows: "4111 1111" ends in a group after a blank.
            var separator = '\0';
            if (!trailing)
            {
                var k = before;
                while (k >= 0 && char.IsAsciiLetterOrDigit(text[k])) k--;
                if (k >= 1 && text[k] is ' ' or '-' or '.' or '/' && char.IsAsciiLetterOrDigit(text[k - 1])) separator = text[k];
            }
            output ??= new StringBuilder(text.Length);
            starts ??= new List<int>(text.Length);
            ends ??= new List<int>(text.Length);
            for (var k = copied; k < i; k++)
            {
                output.Append(text[k]);
                starts.Add(k);
                ends.Add(k + 1);
            }
            if (separator != '\0')
            {
                output.Append(separator);
                starts.Add(i);
                ends.Add(next);
            }
            copied = next;
            i = next - 1;
        }
        return Finish(text, output, starts, ends, copied);
    }

    /// <summary>
    /// The end of a rewrite that kept a map back to the text: null when nothing was rewritten, else the rewritten text
    /// with the rest of the original (from <paramref name="copied"/>) copied as it was, each character mapped to itself.
    /// </summary>
    private static NormalisedText? Finish(ReadOnlySpan<char> text, StringBuilder? output, List<int>? starts, List<int>? ends, int copied)
    {
        if (output is null) return null;
        for (var k = copied; k < text.Length; k++)
        {
            output.Append(text[k]);
            starts!.Add(k);
            ends!.Add(k + 1);
        }
        return new NormalisedText(output.ToString(), [.. starts!], [.. ends!]);
    }

    // Digits as words, in the languages a value is most often read out in (after folding: "funf", "tres", "zero").
    private static readonly Dictionary<string, char> DigitWords = MakeDigitWords();

    private static Dictionary<string, char> MakeDigitWords()
    {
        var words = new Dictionary<string, char>(StringComparer.OrdinalIgnoreCase);
        string[] languages =
        [
            "zero one two three four five six seven eight nine", // English
            "cero uno dos tres cuatro cinco seis siete ocho nueve", // Spanish
            "zero un deux trois quatre cinq six sept huit neuf", // French
            "null eins zwei drei vier funf sechs sieben acht neun", // German (folded)
            "zero uno due tre quattro cinque sei sette otto nove", // Italian
            "zero um dois tres quatro cinco seis sete oito nove", // Portuguese
            "nul een twee drie vier vijf zes zeven acht negen", // Dutch
        ];
        foreach (var language in languages)
        {
            var names = language.Split(' ');
            for (var k = 0; k < names.Length; k++) words.TryAdd(names[k], (char)('0' + k));
        }
        foreach (var (word, digit) in new[] { ("oh", '0'), ("une", '1'), ("una", '1'), ("ein", '1'), ("eine", '1'), ("zwo", '2'), ("fuenf", '5'), ("duas", '2'), ("nought", '0'), ("naught", '0') })
            words.TryAdd(word, digit);
        return words;
    }

    private static readonly Dictionary<string, char>.AlternateLookup<ReadOnlySpan<char>> DigitWord = DigitWords.GetAlternateLookup<ReadOnlySpan<char>>();

    private static readonly System.Buffers.SearchValues<string> DigitWordSearch =
        System.Buffers.SearchValues.Create([.. DigitWords.Keys], StringComparison.OrdinalIgnoreCase);

    /// <summary>The fewest digits a run of number words must give, and the fewest words in it: a phone number's national part.</summary>
    private const int MinWordDigits = 7, MinWords = 3;

    /// <summary>
    /// Digits written as words ("four one one one ...", "Four-One-One-...", "fouroneone...", "plus one two zero two ...",
    /// "double five"), in English, Spanish, French, German, Italian, Portuguese or Dutch, mixed with digits or not: each run of
    /// seven digits or more (three words at least) as its digits, the separators between them dropped. Null when there is none.
    /// </summary>
    public static NormalisedText? NumberWords(ReadOnlySpan<char> text)
    {
        if (text.Length < MinWords * 2 || text.IndexOfAny(DigitWordSearch) < 0) return null;
        StringBuilder? output = null;
        List<int>? starts = null, ends = null;
        var copied = 0;
        var run = new List<(char Digit, int Start, int End)>();
        var (words, runEnd, repeat) = (0, -1, 1);
        var i = 0;
        void Close(ReadOnlySpan<char> text)
        {
            if (run.Count - (run.Count > 0 && run[0].Digit == '+' ? 1 : 0) >= MinWordDigits && words >= MinWords)
            {
                output ??= new StringBuilder(text.Length);
                starts ??= new List<int>(text.Length);
                ends ??= new List<int>(text.Length);
                for (var k = copied; k < run[0].Start; k++)
                {
                    output.Append(text[k]);
                    starts.Add(k);
                    ends.Add(k + 1);
                }
                foreach (var (digit, start, end) in run)
                {
                    output.Append(digit);
                    starts.Add(start);
                    ends.Add(end);
                }
                copied = run[^1].End;
            }
            run.Clear();
            (words, runEnd, repeat) = (0, -1, 1);
        }
        while (i < text.Length)
        {
            var c = text[i];
            if (!char.IsAsciiLetterOrDigit(c))
            {
                if (runEnd >= 0 && (i - runEnd >= 3 || c is not (' ' or '-' or ',' or '.' or '/' or '_' or '|' or '\t'))) Close(text);
                i++;
                continue;
            }
            var letters = char.IsAsciiLetter(c);
            var length = letters ? text[i..].IndexOfAnyExcept(AsciiLetters) : text[i..].IndexOfAnyExceptInRange('0', '9');
            if (length < 0) length = text.Length - i;
            var token = text.Slice(i, length);
            var before = run.Count;
            if (!letters)
            {
                if (length <= 4) for (var k = 0; k < length; k++) run.Add((token[k], i + k, i + k + 1));
            }
            else if (DigitWord.TryGetValue(token, out var digit))
            {
                for (var r = 0; r < repeat; r++) run.Add((digit, i, i + length));
                words++;
                repeat = 1;
            }
            else if (token.Equals("double", StringComparison.OrdinalIgnoreCase) || token.Equals("triple", StringComparison.OrdinalIgnoreCase))
            {
                repeat = token[0] is 'd' or 'D' ? 2 : 3;
                runEnd = i + length;
                i += length;
                continue;
            }
            else if (token.Equals("plus", StringComparison.OrdinalIgnoreCase) && run.Count == 0)
            {
                run.Add(('+', i, i + length));
            }
            else if (length >= 2 * MinWords) words += Segment(token, i, run);
            if (run.Count == before && !(run.Count == 1 && run[0].Digit == '+'))
            {
                Close(text);
            }
            else runEnd = i + length;
            i += length;
        }
        Close(text);
        return Finish(text, output, starts, ends, copied);
    }

    private static readonly System.Buffers.SearchValues<char> AsciiLetters = System.Buffers.SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    // A word that is number words run together ("fouroneone"): its digits added (each mapped to its own word), and how many; 0 when it is not.
    private static int Segment(ReadOnlySpan<char> token, int offset, List<(char Digit, int Start, int End)> run)
    {
        if (token.Length > 256) return 0;
        // next[i]: the length of a word that begins at i and from whose end the rest segments; 0 when none.
        Span<int> next = stackalloc int[token.Length + 1];
        next[token.Length] = -1;
        for (var i = token.Length - 1; i >= 0; i--)
        {
            next[i] = 0;
            for (var length = Math.Min(7, token.Length - i); length >= 2 && next[i] == 0; length--)
                if (next[i + length] != 0 && DigitWord.ContainsKey(token.Slice(i, length))) next[i] = length;
        }
        if (next[0] == 0) return 0;
        var count = 0;
        for (var i = 0; i < token.Length; i += next[i], count++)
            run.Add((DigitWord.TryGetValue(token.Slice(i, next[i]), out var digit) ? digit : '0', offset + i, offset + i + next[i]));
        return count;
    }

    private static readonly System.Buffers.SearchValues<string> IdentifierWords = System.Buffers.SearchValues.Create(
        ["order", "invoice", "ticket", "tracking", "ref", "id", "#", "serial", "sku", "isbn", "no.", "number", "account", "customer", "transaction"],
        StringComparison.OrdinalIgnoreCase);

    private static readonly System.Buffers.SearchValues<char> CellSeparators = System.Buffers.SearchValues.Create(",;|\t\"<");

    /// <summary>
    /// A value split across cells (CSV, TSV, a table's pipes) or across markup (HTML or XML elements, attribute values):
    /// the cells read run together, and read with one blank between them (a card's groups in four cells). What the
    /// plain search found stands as a barrier in both readings, so a label beside an address is not joined to it.
    /// Only validated values and secrets that take in a separator or a tag are added.
    /// </summary>
    public static void FindAcrossCells(ReadOnlySpan<char> text, TextMasker masker, List<Finding> findings)
    {
        if (text.Length < MinSpelled || text.IndexOfAny(CellSeparators) < 0 || Cells(text, findings) is not var (joined, spaced, seams)) return;
        var count = findings.Count;
        var inner = new List<Finding>();
        // Run together, seam by seam: the cells before a seam (as far as a value reaches) and the one cell after it, so
        // what follows a split value (the next cell, the next element) does not run into it.
        var reading = joined.Text.AsSpan();
        for (var k = 0; k < seams.Count; k++)
        {
            var seam = seams[k];
            var from = Math.Max(0, seam - Reach);
            var to = Math.Min(k + 1 < seams.Count ? seams[k + 1] : reading.Length, seam + Reach);
            if (seam == 0 || seam >= to) continue;
            var window = reading[from..to];
            var admitted = masker.Admitted(TextTraits.Of(window)) & (masker.Joinable | TextMasker.NormaliseBit);
            if ((admitted & masker.Joinable) == 0) continue;
            masker.Find(window, admitted, inner, 1);
            foreach (var finding in inner)
                if (finding.Start < seam - from && finding.End > seam - from)
                    Add(finding with { Start = finding.Start + from }, joined, text, findings, count);
        }
        // An encoded run across a seam ("YWxpY2VA","ZXhhbXBsZS5jb20="): the whole run around it, decoded as one.
        for (var k = 0; k < seams.Count; k++)
        {
            var seam = seams[k];
            if (seam == 0 || seam >= reading.Length || !IsRunChar(reading[seam - 1]) || !IsRunChar(reading[seam])) continue;
            var from = seam;
            while (from > 0 && IsRunChar(reading[from - 1]) && seam - from < MaxRun) from--;
            var to = seam;
            while (to < reading.Length && IsRunChar(reading[to]) && to - seam < MaxRun) to++;
            while (k + 1 < seams.Count && seams[k + 1] < to) k++; // one run, however many seams it crosses
            var run = reading[from..to];
            if (run.Length < EncodedBlobs.ShortMinLength) continue;
            var admitted = masker.Admitted(TextTraits.Of(run)) & TextMasker.BlobBit;
            if (admitted == 0) continue;
            masker.Find(run, admitted, inner, 0);
            foreach (var finding in inner)
                if (finding.Start < seam - from && finding.End > seam - from)
                    Add(finding with { Start = finding.Start + from }, joined, text, findings, count);
        }
        // One blank apart, all at once: digit groups in cells (a card's groups) end where the digits do.
        var all = masker.Admitted(TextTraits.Of(spaced.Text)) & (masker.Joinable | TextMasker.NormaliseBit);
        if ((all & masker.Joinable) == 0) return;
        masker.Find(spaced.Text, all, inner, 1);
        foreach (var finding in inner) Add(finding, spaced, text, findings, count);
    }

    /// <summary>How far before a seam a split value is looked for: an address is at most 254 characters.</summary>
    private const int Reach = 160;

    /// <summary>How far either side of a seam an encoded run is followed.</summary>
    private const int MaxRun = 16 * 1024;

    private static bool IsRunChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '-' or '_' or '=';

    private static void Add(Finding finding, NormalisedText reading, ReadOnlySpan<char> text, List<Finding> findings, int plain)
    {
        if (!Joinable(finding)) return;
        var (start, length) = reading.Original(finding.Start, finding.Length);
        var span = text.Slice(start, length);
        if (span.IndexOfAny(CellSeparators) < 0 && span.IndexOf('>') < 0) return;
        for (var k = 0; k < findings.Count; k++)
            if (start < findings[k].End && findings[k].Start < start + length && (k < plain || findings[k].Entity == finding.Entity)) return;
        findings.Add(finding with { Start = start, Length = length });
    }

    /// <summary>The two readings of a text's cells (joined, and one blank apart); null when it has no cell or tag.</summary>
    private static (NormalisedText Joined, NormalisedText Spaced, List<int> Seams)? Cells(ReadOnlySpan<char> text, List<Finding> found)
    {
        var joined = new Reading(text.Length);
        var spaced = new Reading(text.Length);
        var changed = false;
        var next = 0; // the next finding of the plain search (in order, without overlaps)
        for (var i = 0; i < text.Length;)
        {
            if (next < found.Count && i >= found[next].Start)
            {
                if (i < found[next].End)
                {
                    joined.Emit('\n', i, found[next].End);
                    spaced.Emit('\n', i, found[next].End);
                    i = found[next].End;
                }
                next++;
                continue;
            }
            var c = text[i];
            var close = c == '<' ? text[i..].Slice(0, Math.Min(1024, text.Length - i)).IndexOf('>') : -1;
            if (close > 0)
            {
                // A tag: its attribute values are cells, the rest of it a separator.
                var end = i + close + 1;
                spaced.Separator(i, end);
                joined.Seam();
                for (var k = i + 1; k < end - 1; k++)
                {
                    if (text[k] is not ('"' or '\'')) continue;
                    var quote = text[k];
                    var valueEnd = text[(k + 1)..(end - 1)].IndexOf(quote);
                    if (valueEnd < 0) break;
                    for (var v = k + 1; v <= k + valueEnd; v++)
                    {
                        joined.Emit(text[v], v, v + 1);
                        spaced.Emit(text[v], v, v + 1);
                    }
                    spaced.Separator(k + valueEnd + 1, k + valueEnd + 2);
                    joined.Seam();
                    k += valueEnd + 1;
                }
                i = end;
                changed = true;
                continue;
            }
            if (c is ',' or ';' or '|' or '\t' or '"')
            {
                spaced.Separator(i, i + 1);
                joined.Seam();
                i++;
                changed = true;
                continue;
            }
            joined.Emit(c, i, i + 1);
            spaced.Emit(c, i, i + 1);
            i++;
        }
        return changed && joined.Length > 0 && spaced.Length > 0 ? (joined.Done(), spaced.Done(), joined.Seams) : null;
    }

    /// <summary>A reading being built: its characters, and where each came from.</summary>
    private sealed class Reading(int capacity)
    {
        private readonly StringBuilder _text = new(capacity);
        private readonly List<int> _starts = new(capacity), _ends = new(capacity);
        private bool _separated;

        public int Length => _text.Length;

        /// <summary>Where cells meet in the reading, in order.</summary>
        public List<int> Seams { get; } = [];

        public void Seam()
        {
            if (Seams.Count == 0 || Seams[^1] != _text.Length) Seams.Add(_text.Length);
        }

        public void Emit(char c, int start, int end)
        {
            _text.Append(c);
            _starts.Add(start);
            _ends.Add(end);
            _separated = false;
        }

        /// <summary>One blank for any run of separators.</summary>
        public void Separator(int start, int end)
        {
            if (_separated)
            {
                _ends[^1] = end;
                return;
            }
            Emit(' ', start, end);
            _separated = true;
        }

        public NormalisedText Done() => new(_text.ToString(), [.. _starts], [.. _ends]);
    }
}
