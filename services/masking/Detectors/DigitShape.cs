namespace Portcullis.Masking.Detectors;

/// <summary>
/// The digit groups of a text, for the pre-checks of detectors of digit values (cards, SSNs) that counts alone
/// cannot make. A group is a maximal run of digits (any Unicode decimal digit, a superset of what the detectors
/// read); a chain is groups joined by one or two separator characters (<see cref="DigitChains.IsSeparator"/>).
/// Each answer is a necessary condition of its detector, never a finding.
/// </summary>
public readonly record struct DigitShape(int LongestCardChain, bool HasSsnGroups)
{
    public static DigitShape Of(ReadOnlySpan<char> text)
    {
        int longest = 0, chain = 0, previousEnd = -1, previousLength = 0, twoBack = -1, oneBack = -1;
        var ssn = false;
        var ascii = text.Length > 48 && System.Text.Ascii.IsValid(text);
        for (var at = 0; at < text.Length;)
        {
            if (ascii)
            {
                var next = text[at..].IndexOfAnyInRange('0', '9');
                if (next < 0) break;
                at += next;
            }
            else if (!IsDigit(text[at]))
            {
                at++;
                continue;
            }
            var end = at + 1;
            while (end < text.Length && IsDigit(text[end])) end++;
            var length = end - at;
            if (previousEnd >= 0 && at - previousEnd is 1 or 2 && DigitChains.IsSeparator(text[previousEnd])
                && DigitChains.IsSeparator(text[at - 1]))
            {
                chain += length;
                (twoBack, oneBack) = (oneBack, previousLength);
            }
            else
            {
                chain = length;
                (twoBack, oneBack) = (-1, -1);
            }
            longest = Math.Max(longest, chain);
            ssn |= (twoBack == 3 && oneBack == 2 && length == 4) || length == 9;
            previousLength = length;
            previousEnd = end;
            at = end;
        }
        return new DigitShape(longest, ssn);
    }

    private static bool IsDigit(char c) => char.IsAsciiDigit(c) || (c >= 128 && char.IsDigit(c));
}
