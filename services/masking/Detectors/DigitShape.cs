namespace Portcullis.Masking.Detectors;

/// <summary>
/// The digit groups of a text, for the pre-checks of detectors of digit values (cards, SSNs, phone numbers)
/// that counts alone cannot make. A group is a maximal run of digits in the regex sense (<c>\d</c>, any
/// Unicode decimal digit); a chain is groups joined by single separators. Each answer is a necessary
/// condition of its pattern, never a finding.
/// </summary>
public readonly record struct DigitShape(int LongestCardChain, bool HasSsnGroups, bool MayStartPhone)
{
    public static DigitShape Of(ReadOnlySpan<char> text)
    {
        int longest = 0, chain = 0, previousEnd = -1, previousLength = 0, twoBack = -1, oneBack = -1;
        var ssn = false;
        var phone = text.IndexOfAny('+', '(', '-') >= 0;
        var ascii = System.Text.Ascii.IsValid(text); // then digits are found with a vectorised search
        for (var at = 0; at < text.Length;)
        {
            if (ascii)
            {
                var next = text[at..].IndexOfAnyInRange('0', '9');
                if (next < 0) break;
                at += next;
            }
            else if (!IsDigit(text[at])) { at++; continue; }
            var end = at + 1;
            while (end < text.Length && IsDigit(text[end])) end++;
            var length = end - at;
            // Cards and SSNs: groups joined by exactly one space or dash.
            if (previousEnd >= 0 && at - previousEnd == 1 && text[previousEnd] is ' ' or '-')
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
            ssn |= twoBack == 3 && oneBack == 2 && length == 4;
            // National phone forms without '+', '(' or '-' start with a group 0x to 0xxx followed by a space.
            phone |= text[at] == '0' && length is >= 2 and <= 4 && end < text.Length && text[end] == ' ';
            previousLength = length;
            previousEnd = end;
            at = end;
        }
        return new DigitShape(longest, ssn, phone);
    }

    private static bool IsDigit(char c) => char.IsAsciiDigit(c) || (c >= 128 && char.IsDigit(c));
}
