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
        Reversed(text, masker, findings, count);
    }

    private static void Add(NormalisedText reading, TextMasker masker, List<Finding> findings, int depth, bool all)
    {
        var inner = new List<Finding>();
        var admitted = masker.Admitted(TextTraits.Of(reading.Text));
        // A reading that collapses characters is searched only for what it may report.
        if (!all) admitted &= masker.Joinable | TextMasker.NormaliseBit;
        if ((admitted & ~TextMasker.NormaliseBit) == 0) return;
        masker.Find(reading.Text, admitted, inner, depth + 1);
        foreach (var finding in inner)
        {
            if (!all && !Joinable(finding)) continue;
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
                    // An ASCII byte counts when it is one quoted-printable must escape or a value's punctuation: "id=12" is not an escape.
                    var valid = count > 1 || (count == 1 && (char.IsAsciiLetterOrDigit((char)first) ? false : first >= 0x20 && first < 0x7F));
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
        if (output is null) return null;
        for (var k = copied; k < text.Length; k++)
        {
            output.Append(text[k]);
            starts!.Add(k);
            ends!.Add(k + 1);
        }
        return new NormalisedText(output.ToString(), [.. starts!], [.. ends!]);
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
