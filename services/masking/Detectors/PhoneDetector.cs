using System.Buffers;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Phone numbers in the international form (+ or 00, a country code, then groups) checked against the length
/// of a national number in that country (E.164 allows 15 digits in all), and in the national forms of the
/// largest countries: a trunk 0 (UK, FR, DE, IT, JP, ID, NL, ...), Russia's 8, North American 3-3-4 with valid
/// area and exchange codes, India's 5-5, China's 3-4-4 mobiles, Spain, Brazil, Mexico and Italy's mobiles.
/// A number without separators needs a word that names it (phone, tel, mobile, call...) just before it.
/// </summary>
public sealed class PhoneDetector : IDetector
{
    private static readonly SearchValues<char> Starts = SearchValues.Create("+(0123456789");
    private static readonly SearchValues<char> IbanGroup = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    private static readonly SearchValues<string> Words = SearchValues.Create(
        ["phone", "tel", "mobile", "cell", "call", "fax", "whatsapp", "sms", "contact", "handy", "portable", "telefon", "téléphone", "msisdn"],
        StringComparison.OrdinalIgnoreCase);

    public string Entity => "PHONE";
    public int Priority => 40;
    public Gate Gate => new(Digits: 8);
    public Func<DigitShape, bool>? Shape => null;
    public Literals? Literals => null;

    private readonly record struct Part(int Start, int End, bool Parenthesised)
    {
        public int Length => End - Start;
    }

    public void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        Span<Part> parts = stackalloc Part[8];
        Span<char> digits = stackalloc char[24];
        for (var at = 0; at < text.Length;)
        {
            var next = text[at..].IndexOfAny(Starts);
            if (next < 0) break;
            at += next;
            var end = Read(text, at, parts, out var count, out var plus);
            if (end <= at) { at++; continue; }
            if (count > 0 && Boundaries(text, at, end) && Valid(text, at, parts[..count], plus, digits))
            {
                findings.Add(new Finding(at, end - at, Entity, Priority));
            }
            at = end;
        }
    }

    private static bool Boundaries(ReadOnlySpan<char> text, int start, int end)
    {
        if (start > 0 && (char.IsAsciiLetterOrDigit(text[start - 1]) || text[start - 1] is '_' or '+' or '.' or '-' or '/')) return false;
        // The digits of an IBAN written in groups ("NL91 ABNA 0417 1643 01"): a group of four capitals and digits before.
        if (start >= 5 && text[start - 1] == ' ' && text[(start - 5)..(start - 1)].IndexOfAnyExcept(IbanGroup) < 0
            && text[(start - 5)..(start - 1)].IndexOfAnyInRange('A', 'Z') >= 0) return false;
        return end == text.Length || !(char.IsAsciiLetterOrDigit(text[end]) || text[end] == '_');
    }

    // Reads '+'? then groups (digits, or digits in parentheses) joined by one or two of space . - /; the end of the
    // last group, or the start when there is no group.
    private static int Read(ReadOnlySpan<char> text, int start, Span<Part> parts, out int count, out bool plus)
    {
        count = 0;
        var at = start;
        plus = text[at] == '+';
        if (plus) at++;
        var end = start;
        while (count < parts.Length && at < text.Length)
        {
            var parenthesised = text[at] == '(';
            var digitsAt = parenthesised ? at + 1 : at;
            var digitsEnd = digitsAt;
            while (digitsEnd < text.Length && char.IsAsciiDigit(text[digitsEnd])) digitsEnd++;
            if (digitsEnd == digitsAt) break;
            if (parenthesised && (digitsEnd >= text.Length || text[digitsEnd] != ')')) break;
            parts[count++] = new Part(digitsAt, digitsEnd, parenthesised);
            end = parenthesised ? digitsEnd + 1 : digitsEnd;
            var sep = end;
            while (sep < text.Length && sep - end < 2 && text[sep] is ' ' or '.' or '-' or '/') sep++;
            if (sep == end && !parenthesised) break;
            if (sep < text.Length && (char.IsAsciiDigit(text[sep]) || text[sep] == '(')) at = sep;
            else break;
        }
        return end;
    }

    private static bool Valid(ReadOnlySpan<char> text, int start, ReadOnlySpan<Part> parts, bool plus, Span<char> digits)
    {
        var n = 0;
        Span<int> lengths = stackalloc int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            // "+44 (0)20 ...": the trunk 0 in parentheses after a country code is not dialled.
            if (plus && part.Parenthesised && part.Length == 1 && text[part.Start] == '0' && i == 1) { lengths[i] = 0; continue; }
            if (n + part.Length > digits.Length) return false;
            text[part.Start..part.End].CopyTo(digits[n..]);
            n += part.Length;
            lengths[i] = part.Length;
        }
        var d = digits[..n];
        if (n < 8) return false;
        if (plus) return PhoneNumbers.International(d);
        if (d[0] == '0' && d[1] == '0' && parts[0].Length >= 3) return PhoneNumbers.International(d[2..]);
        if (parts.Length == 1)
            return n is >= 9 and <= 13 && DigitChains.Preceded(text, start, 24, Words)
                   && (d[0] == '0' ? d[1] != '0' && n <= 12 : n == 10 ? PhoneNumbers.NorthAmerican(d) : PhoneNumbers.International(d));
        if (LooksLikeDate(text, parts)) return false;
        var first = parts[0];
        var shape = lengths;

        // A trunk 0 and an area or mobile prefix of one to four more digits: 9 to 12 digits in groups of two or more.
        if (d[0] == '0' && d[1] != '0' && first.Length is >= 2 and <= 5 && n is >= 9 and <= 12 && MinGroup(shape) >= 2 && MaxGroup(shape) <= 8)
            return true;
        // Russia: 8 (495) 123-45-67.
        if (first.Length == 1 && d[0] == '8' && parts.Length >= 3 && parts[1].Length == 3 && n == 11) return true;
        // North America: (415) 555-0123, 415.555.0123, 1-415-555-0123.
        if (Is(shape, 3, 3, 4) || (Is(shape, 1, 3, 3, 4) && d[0] == '1'))
        {
            if (PhoneNumbers.NorthAmerican(d[(n - 10)..])) return true;
            if (d[0] == '3' && n == 10) return true; // Italy's mobiles: 333 123 4567
        }
        if (Is(shape, 3, 7) && d[0] == '3') return true;
        if (Is(shape, 5, 5) && d[0] is >= '6' and <= '9') return true; // India: 98765 43210
        if (Is(shape, 3, 4, 4) && d[0] == '1' && d[1] is >= '3' and <= '9') return true; // China: 138 0013 8000
        if ((Is(shape, 3, 2, 2, 2) || Is(shape, 3, 3, 3)) && d[0] is >= '6' and <= '9' && !text[start..parts[^1].End].Contains('/')) return true; // Spain
        if ((Is(shape, 2, 5, 4) && d[2] == '9') || (first.Parenthesised && first.Length == 2 && (Is(shape, 2, 4, 4) || Is(shape, 2, 5, 4))))
            return true; // Brazil: (11) 91234-5678
        if (Is(shape, 2, 4, 4) && d[0] is >= '2' and <= '9') return true; // Mexico: 55 1234 5678
        return false;
    }

    private static bool Is(ReadOnlySpan<int> shape, params ReadOnlySpan<int> expected)
    {
        // Groups of length 0 (a dropped trunk) do not count.
        var k = 0;
        foreach (var length in shape)
        {
            if (length == 0) continue;
            if (k == expected.Length || expected[k] != length) return false;
            k++;
        }
        return k == expected.Length;
    }

    private static int MinGroup(ReadOnlySpan<int> shape)
    {
        var min = int.MaxValue;
        foreach (var length in shape) if (length > 0) min = Math.Min(min, length);
        return min;
    }

    private static int MaxGroup(ReadOnlySpan<int> shape)
    {
        var max = 0;
        foreach (var length in shape) max = Math.Max(max, length);
        return max;
    }

    // 28.11.2026, 01/02/2026 12, 2026-11-28: a date (and the hour after it) is not a phone number.
    private static bool LooksLikeDate(ReadOnlySpan<char> text, ReadOnlySpan<Part> parts)
    {
        static bool Year(ReadOnlySpan<char> text, Part part) => part.Length == 4 && text[part.Start] is '1' or '2' && text[part.Start + 1] is '9' or '0';
        if (parts.Length < 3) return false;
        return (parts[0].Length <= 2 && parts[1].Length <= 2 && Year(text, parts[2]))
               || (Year(text, parts[0]) && parts[1].Length <= 2 && parts[2].Length <= 2);
    }
}

/// <summary>Country calling codes and the lengths of their national numbers; the strict forms of a number written as a bare integer.</summary>
public static class PhoneNumbers
{
    // Two-digit country codes with the length range of their national significant numbers.
    private static readonly Dictionary<int, (int Min, int Max)> TwoDigit = new()
    {
        [20] = (8, 10), [27] = (9, 9), [30] = (10, 10), [31] = (9, 9), [32] = (8, 9), [33] = (9, 9), [34] = (9, 9), [36] = (8, 9),
        [39] = (6, 11), [40] = (9, 9), [41] = (9, 9), [43] = (4, 13), [44] = (9, 10), [45] = (8, 8), [46] = (7, 10), [47] = (8, 8),
        [48] = (9, 9), [49] = (6, 13), [51] = (8, 9), [52] = (10, 10), [53] = (8, 8), [54] = (10, 11), [55] = (10, 11), [56] = (9, 9),
        [57] = (8, 10), [58] = (10, 10), [60] = (7, 10), [61] = (9, 9), [62] = (7, 12), [63] = (8, 10), [64] = (8, 10), [65] = (8, 8),
        [66] = (8, 9), [81] = (9, 10), [82] = (8, 10), [84] = (9, 10), [86] = (8, 11), [90] = (10, 10), [91] = (10, 10), [92] = (9, 10),
        [93] = (9, 9), [94] = (9, 9), [95] = (7, 10), [98] = (10, 10),
    };

    /// <summary>Country code and national number, 8 to 15 digits: a known code's national length, else a three-digit code and 6 to 12.</summary>
    public static bool International(ReadOnlySpan<char> d)
    {
        if (d.Length is < 8 or > 15 || d[0] == '0') return false;
        if (d[0] == '1') return d.Length == 11 && NorthAmerican(d[1..]);
        if (d[0] == '7') return d.Length == 11;
        var two = (d[0] - '0') * 10 + (d[1] - '0');
        if (TwoDigit.TryGetValue(two, out var range)) return d.Length - 2 >= range.Min && d.Length - 2 <= range.Max;
        // Unassigned two-digit prefixes of three-digit codes: 2x, 3x, 4x, 5x, 6x, 8x, 9x outside the table.
        return d.Length - 3 is >= 6 and <= 12;
    }

    /// <summary>Ten digits: an area code and an exchange that start 2-9.</summary>
    public static bool NorthAmerican(ReadOnlySpan<char> d) => d.Length == 10 && d[0] is >= '2' and <= '9' && d[3] is >= '2' and <= '9';

    /// <summary>
    /// A number stored as an integer (a JSON number) that is an E.164 phone number without its '+': only the
    /// strict mobile and geographic forms of the largest countries, since ids and timestamps are integers too.
    /// </summary>
    public static bool StrictE164(ReadOnlySpan<char> d)
    {
        if (d.Length is < 11 or > 13) return false;
        var two = (d[0] - '0') * 10 + (d[1] - '0');
        return d[0] switch
        {
            '1' => d.Length == 11 && NorthAmerican(d[1..]),
            '7' => d.Length == 11 && d[1] == '9',
            _ => two switch
            {
                33 => d.Length == 11 && d[2] is >= '1' and <= '9',
                44 => d.Length == 12 && d[2] is '1' or '2' or '3' or '7',
                49 => d.Length is 12 or 13 && d[2] == '1' && d[3] is '5' or '6' or '7',
                91 => d.Length == 12 && d[2] is >= '6' and <= '9',
                86 => d.Length == 13 && d[2] == '1' && d[3] is >= '3' and <= '9',
                55 => d.Length is 12 or 13 && d[2] is >= '1' and <= '9',
                81 => d.Length == 12 && d[2] is '7' or '8' or '9' && d[3] == '0',
                52 => d.Length == 12,
                34 => d.Length == 11 && d[2] is '6' or '7' or '9',
                39 => d.Length == 12 && d[2] == '3',
                62 => d.Length is >= 11 and <= 13 && d[2] == '8',
                31 => d.Length == 11 && d[2] == '6',
                61 => d.Length == 11 && d[2] == '4',
                _ => false,
            },
        };
    }
}
