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
        // National phone forms without '+', '(' or '-': 0\d{1,3} and a space, then 6 to 8 digits, or 3 to 4
        // and one separator and 3 more at least (0\d{1,3}[- ]\d{3,4}[- ]?\d{3,4}). The two flags say what the
        // groups so far have begun: a 0-group and its space, or that and a group of three or four after it.
        bool afterZeroGroup = false, afterFirstGroup = false;
        // A short text (most values) is read character by character in one pass; a long one is searched with
        // vectorised calls, for '+', '(' and '-' first and then for each group's first digit when all ASCII.
        var vectorised = text.Length > 48;
        var phone = vectorised && text.IndexOfAny('+', '(', '-') >= 0;
        var ascii = vectorised && System.Text.Ascii.IsValid(text);
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
                phone |= text[at] is '+' or '(' or '-';
                at++;
                continue;
            }
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
            var adjacent = previousEnd >= 0 && at - previousEnd == 1;
            phone |= afterZeroGroup && adjacent && length is >= 6 and <= 8
                     || afterFirstGroup && adjacent && text[previousEnd] is ' ' or '-' && length >= 3;
            afterFirstGroup = afterZeroGroup && adjacent && length is 3 or 4;
            afterZeroGroup = text[at] == '0' && length is >= 2 and <= 4 && end < text.Length && text[end] == ' ';
            previousLength = length;
            previousEnd = end;
            at = end;
        }
        return new DigitShape(longest, ssn, phone);
    }

    private static bool IsDigit(char c) => char.IsAsciiDigit(c) || (c >= 128 && char.IsDigit(c));
}
