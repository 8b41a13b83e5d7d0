namespace Portcullis.Masking.Detectors;

/// <summary>
/// Numbers as people and systems write them: digit groups joined by spaces (any kind, once folded), dots,
/// underscores, hyphens or slashes, one or two of them. The card, SSN and phone detectors read such chains
/// and validate every way of cutting them at group boundaries, so a card followed by an expiry date or a
/// phone number after an order number is still found whole.
/// </summary>
public static class DigitChains
{
    public static bool IsSeparator(char c) => c is ' ' or '\u00A0' or '\u2009' or '\u202F' or '.' or '-' or '_' or '/' or '\t';

    public readonly record struct Group(int Start, int End)
    {
        public int Length => End - Start;
    }

    /// <summary>
    /// The next chain at or after <paramref name="from"/>: its groups (up to the span's size; a longer chain is
    /// cut there and the rest read as the next one). Returns the number of groups, 0 when there is none.
    /// </summary>
    public static int Next(ReadOnlySpan<char> text, int from, Span<Group> groups)
    {
        var next = text[from..].IndexOfAnyInRange('0', '9');
        if (next < 0) return 0;
        var at = from + next;
        var count = 0;
        while (count < groups.Length)
        {
            var end = at;
            while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
            groups[count++] = new Group(at, end);
            var sep = end;
            while (sep < text.Length && sep - end < 2 && IsSeparator(text[sep])) sep++;
            if (sep == end || sep >= text.Length || !char.IsAsciiDigit(text[sep])) break;
            at = sep;
        }
        return count;
    }

    /// <summary>Whether the digits of <paramref name="text"/> in the groups [first, last] fit into <paramref name="digits"/>; their count.</summary>
    public static int Digits(ReadOnlySpan<char> text, ReadOnlySpan<Group> groups, Span<char> digits)
    {
        var count = 0;
        foreach (var group in groups)
        {
            if (count + group.Length > digits.Length) return -1;
            text[group.Start..group.End].CopyTo(digits[count..]);
            count += group.Length;
        }
        return count;
    }

    /// <summary>Words that say a bare number nearby is of a kind: within <paramref name="window"/> characters before it.</summary>
    public static bool Preceded(ReadOnlySpan<char> text, int start, int window, System.Buffers.SearchValues<string> words) =>
        text[Math.Max(0, start - window)..start].IndexOfAny(words) >= 0;
}

/// <summary>Card numbers: 13 to 19 digits in one chain (groups of three or more, or all of one or two), Luhn, a known issuer.</summary>
public sealed class CardDetector : IDetector
{
    public string Entity => "CARD";
    public int Priority => 60;
    public Gate Gate => new(Digits: 13);
    public Func<DigitShape, bool>? Shape => static s => s.LongestCardChain >= 13;
    public Literals? Literals => null;

    public void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        Span<DigitChains.Group> groups = stackalloc DigitChains.Group[24];
        Span<char> digits = stackalloc char[19];
        for (var from = 0; from < text.Length;)
        {
            var count = DigitChains.Next(text, from, groups);
            if (count == 0) break;
            var chain = groups[..count];
            for (var first = 0; first < count;)
            {
                var found = -1;
                var total = 0;
                for (var last = first; last < count && (total += chain[last].Length) <= 19; last++)
                {
                    if (total < 13 || !Grouped(chain[first..(last + 1)])) continue;
                    var n = DigitChains.Digits(text, chain[first..(last + 1)], digits);
                    if (n > 0 && Validators.Luhn(digits[..n]) && Validators.KnownIssuer(digits[..n])) found = last;
                }
                if (found < 0) { first++; continue; }
                findings.Add(new Finding(chain[first].Start, chain[found].End - chain[first].Start, Entity, Priority));
                first = found + 1;
            }
            from = chain[^1].End;
        }
    }

    // One group, groups of three digits or more (4-4-4-4, 4-6-5), or every group of one or two (digits spaced out).
    private static bool Grouped(ReadOnlySpan<DigitChains.Group> groups)
    {
        if (groups.Length == 1) return true;
        bool allLong = true, allShort = true;
        foreach (var group in groups)
        {
            allLong &= group.Length >= 3;
            allShort &= group.Length <= 2;
        }
        return allLong || allShort;
    }
}

/// <summary>
/// US social security numbers: 3-2-4 digits with any separators, valid ranges; nine bare digits only after a
/// word that names them ("SSN", "social security"), where an order number would otherwise be taken.
/// </summary>
public sealed class SsnDetector : IDetector
{
    private static readonly System.Buffers.SearchValues<string> Words = System.Buffers.SearchValues.Create(
        ["ssn", "social security", "social_security", "socialsecurity", "soc sec", "ss#", "ss no", "ss num", "ssnum", "tin#", "taxpayer id"],
        StringComparison.OrdinalIgnoreCase);

    public string Entity => "SSN";
    public int Priority => 55;
    public Gate Gate => new(Digits: 9);
    public Func<DigitShape, bool>? Shape => static s => s.HasSsnGroups;
    public Literals? Literals => null;

    public void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        Span<DigitChains.Group> groups = stackalloc DigitChains.Group[8];
        for (var from = 0; from < text.Length;)
        {
            var count = DigitChains.Next(text, from, groups);
            if (count == 0) break;
            var chain = groups[..count];
            from = chain[^1].End;
            // A chain of exactly these groups, not part of a longer number.
            var start = chain[0].Start;
            if ((start > 0 && text[start - 1] == '-') || (from < text.Length && text[from] == '-')) continue;
            if (count == 3 && chain[0].Length == 3 && chain[1].Length == 2 && chain[2].Length == 4)
            {
                if (Validators.Ssn(text[chain[0].Start..chain[0].End], text[chain[1].Start..chain[1].End], text[chain[2].Start..chain[2].End]))
                    findings.Add(new Finding(start, from - start, Entity, Priority));
            }
            else if (count == 1 && chain[0].Length == 9 && DigitChains.Preceded(text, start, 32, Words))
            {
                if (Validators.Ssn(text.Slice(start, 3), text.Slice(start + 3, 2), text.Slice(start + 5, 4)))
                    findings.Add(new Finding(start, 9, Entity, Priority));
            }
        }
    }
}
