namespace Portcullis.Masking.Detectors;

/// <summary>
/// The next match of a pattern in <paramref name="text"/> that starts at or after <paramref name="from"/> (its
/// look-behinds still see the characters before): its index and <paramref name="length"/>, or -1 when none.
/// </summary>
public delegate int NextMatch(ReadOnlySpan<char> text, int from, out int length);

/// <summary>
/// Hand-written forms of the patterns of the most frequent values (cards, IBANs, emails, IPv4 addresses), for
/// texts that are all ASCII: the same matches as the regex, found in a fraction of its per-call cost. Each
/// follows its regex's backtracking order (the leftmost start, then the greedy-most length); only ASCII is
/// asked of them because there <c>\d</c> is 0-9 and nothing else. <c>AsciiMatcherTests</c> holds each to its
/// regex over the corpus and fuzzed texts.
/// </summary>
public static class AsciiMatchers
{
    private static bool Digit(char c) => char.IsAsciiDigit(c);
    private static bool UpperOrDigit(char c) => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c);
    private static bool Alnum(char c) => char.IsAsciiLetterOrDigit(c);
    private static bool LocalPartChar(char c) => Alnum(c) || c is '.' or '_' or '%' or '+' or '-';
    private static bool DomainChar(char c) => Alnum(c) || c == '-';

    /// <summary><c>(?&lt;![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d]|\.\d)</c></summary>
    public static int IPv4(ReadOnlySpan<char> text, int from, out int length)
    {
        for (var start = from; start < text.Length; start++)
        {
            var next = text[start..].IndexOfAnyInRange('0', '9');
            if (next < 0) break;
            start += next;
            if (start > 0 && (Digit(text[start - 1]) || text[start - 1] == '.')) continue;
            // A group starts after a non-digit, so it is a whole run of digits: one to three of them.
            var at = start;
            var groups = 0;
            for (; groups < 4; groups++)
            {
                var run = 0;
                while (at + run < text.Length && Digit(text[at + run])) run++;
                if (run is < 1 or > 3) break;
                at += run;
                if (groups == 3) continue;
                if (at < text.Length && text[at] == '.') at++;
                else break;
            }
            if (groups < 4 || (at < text.Length && text[at] == '.' && at + 1 < text.Length && Digit(text[at + 1])))
            {
                start = SkipDigits(text, start);
                continue;
            }
            length = at - start;
            return start;
        }
        length = 0;
        return -1;
    }

    /// <summary><c>(?&lt;![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ .-]?[A-Z0-9]{4}){2,7}(?:[ .-]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])</c></summary>
    public static int Iban(ReadOnlySpan<char> text, int from, out int length)
    {
        Span<int> ends = stackalloc int[8]; // ends[k]: where the match ends after k groups of four
        for (var start = from; start < text.Length; start++)
        {
            var next = text[start..].IndexOfAnyInRange('A', 'Z');
            if (next < 0) break;
            start += next;
            if (start + 4 > text.Length) break;
            if (start > 0 && Alnum(text[start - 1])) continue;
            if (!char.IsAsciiLetterUpper(text[start + 1]) || !Digit(text[start + 2]) || !Digit(text[start + 3]))
            {
                start = SkipAlphanumerics(text, start);
                continue;
            }
            var groups = 0;
            ends[0] = start + 4;
            while (groups < 7)
            {
                var at = ends[groups];
                if (at < text.Length && text[at] is ' ' or '.' or '-') at++;
                if (at + 4 > text.Length || !UpperOrDigit(text[at]) || !UpperOrDigit(text[at + 1])
                    || !UpperOrDigit(text[at + 2]) || !UpperOrDigit(text[at + 3])) break;
                ends[++groups] = at + 4;
            }
            for (var k = groups; k >= 2; k--)
            {
                var end = ends[k];
                // The optional tail of one to three: only the longest can be followed by a non-alphanumeric.
                var tail = end < text.Length && text[end] is ' ' or '.' or '-' ? end + 1 : end;
                var run = 0;
                while (run < 3 && tail + run < text.Length && UpperOrDigit(text[tail + run])) run++;
                if (run > 0 && (tail + run == text.Length || !Alnum(text[tail + run])))
                {
                    length = tail + run - start;
                    return start;
                }
                if (end == text.Length || !Alnum(text[end]))
                {
                    length = end - start;
                    return start;
                }
            }
            start = SkipAlphanumerics(text, start);
        }
        length = 0;
        return -1;
    }

    // The last index of the run of digits (or of letters and digits) that starts at start: the loop's next step
    // is past it, since a start inside the run has a character before it that the look-behind refuses.
    private static int SkipDigits(ReadOnlySpan<char> text, int start)
    {
        var end = start + 1;
        while (end < text.Length && Digit(text[end])) end++;
        return end - 1;
    }

    private static int SkipAlphanumerics(ReadOnlySpan<char> text, int start)
    {
        var end = start + 1;
        while (end < text.Length && Alnum(text[end])) end++;
        return end - 1;
    }

    /// <summary>
    /// <c>(?&lt;![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])</c>
    /// </summary>
    public static int Email(ReadOnlySpan<char> text, int from, out int length)
    {
        for (var at = from; at < text.Length; at++)
        {
            var next = text[at..].IndexOf('@');
            if (next < 0) break;
            at += next;
            // The local part is the whole run of its characters before the '@' (the look-behind excludes them
            // all, and '@' is not one): 1 to 64 of them, neither end a dot.
            var start = at;
            while (start > 0 && LocalPartChar(text[start - 1])) start--;
            if (start < from || at - start is < 1 or > 64 || text[start] == '.' || text[at - 1] == '.') continue;
            // Labels, each a whole run of domain characters ending in a dot; after each, a top-level domain may
            // follow. The greedy loop backs off label by label, so the last label after which one fits wins.
            var end = -1;
            for (var label = at + 1; ;)
            {
                var dot = label;
                while (dot < text.Length && DomainChar(text[dot])) dot++;
                if (dot == text.Length || text[dot] != '.' || dot - label is < 1 or > 63 || !Alnum(text[label]) || !Alnum(text[dot - 1])) break;
                label = dot + 1;
                var letters = 0;
                while (label + letters < text.Length && char.IsAsciiLetter(text[label + letters])) letters++;
                if (letters is >= 2 and <= 24 && (label + letters == text.Length || !DomainChar(text[label + letters]))) end = label + letters;
                else if (text[label..].StartsWith("xn--", StringComparison.Ordinal))
                {
                    // A punycode top-level domain (xn--p1ai): letters and digits after "xn--".
                    var run = 0;
                    while (label + 4 + run < text.Length && run < 59 && Alnum(text[label + 4 + run])) run++;
                    if (run >= 1 && (label + 4 + run == text.Length || !DomainChar(text[label + 4 + run]))) end = label + 4 + run;
                }
            }
            if (end < 0) continue;
            length = end - start;
            return start;
        }
        length = 0;
        return -1;
    }
}
