using System.Buffers.Text;
using System.Net;
using System.Net.Sockets;

namespace Portcullis.Masking.Detectors;

/// <summary>The checks that tell a real value from a look-alike; they read spans and allocate nothing.</summary>
public static class Validators
{
    /// <summary>The ASCII digits of <paramref name="text"/> into <paramref name="digits"/>; how many, or -1 when they do not fit.</summary>
    public static int Digits(ReadOnlySpan<char> text, Span<char> digits)
    {
        var count = 0;
        foreach (var c in text)
        {
            if (!char.IsAsciiDigit(c)) continue;
            if (count == digits.Length) return -1;
            digits[count++] = c;
        }
        return count;
    }

    public static int DigitCount(ReadOnlySpan<char> text)
    {
        var count = 0;
        foreach (var c in text) if (char.IsAsciiDigit(c)) count++;
        return count;
    }

    public static bool Luhn(ReadOnlySpan<char> digits)
    {
        var sum = 0;
        var doubled = false;
        for (var i = digits.Length - 1; i >= 0; i--)
        {
            var d = digits[i] - '0';
            if (doubled) { d *= 2; if (d > 9) d -= 9; }
            sum += d;
            doubled = !doubled;
        }
        return sum % 10 == 0;
    }

    /// <summary>A card number: 13 to 19 digits (separators aside), the Luhn check, and a known issuer's range and length.</summary>
    public static bool Card(ReadOnlySpan<char> text)
    {
        Span<char> digits = stackalloc char[19];
        var count = Digits(text, digits);
        return count is >= 13 and <= 19 && Luhn(digits[..count]) && KnownIssuer(digits[..count]);
    }

    /// <summary>Issuer ranges of the major card networks, with their lengths.</summary>
    public static bool KnownIssuer(ReadOnlySpan<char> digits)
    {
        var length = digits.Length;
        if (length < 13) return false;
        int Prefix(ReadOnlySpan<char> all, int n)
        {
            var value = 0;
            foreach (var c in all[..n]) value = value * 10 + (c - '0');
            return value;
        }
        return digits[0] switch
        {
            '4' => length is 13 or 16 or 19, // Visa
            '5' => Prefix(digits, 2) is >= 51 and <= 55 && length == 16, // Mastercard
            '2' => Prefix(digits, 4) is >= 2221 and <= 2720 && length == 16, // Mastercard 2-series
            '3' => (Prefix(digits, 2) is 34 or 37 && length == 15) // Amex
                   || (Prefix(digits, 4) is >= 3528 and <= 3589 && length is >= 16 and <= 19) // JCB
                   || ((Prefix(digits, 3) is >= 300 and <= 305 || Prefix(digits, 2) is 36 or 38 or 39) && length is >= 14 and <= 19), // Diners
            '6' => (digits.StartsWith("6011") || digits.StartsWith("65") || Prefix(digits, 3) is >= 644 and <= 649
                    || Prefix(digits, 6) is >= 622126 and <= 622925) && length is >= 16 and <= 19, // Discover, UnionPay
            _ => false,
        };
    }

    /// <summary>A phone number has 8 to 15 digits (E.164 allows 15).</summary>
    public static bool Phone(ReadOnlySpan<char> text) => DigitCount(text) is >= 8 and <= 15;

    // IBAN lengths by country, indexed by the two letters (26 * first + second).
    private static readonly byte[] IbanLengths = MakeIbanLengths();

    private static byte[] MakeIbanLengths()
    {
        var lengths = new byte[26 * 26];
        foreach (var (country, length) in new (string, byte)[]
        {
            ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16), ("BG", 22), ("BH", 22),
            ("BR", 29), ("CH", 21), ("CR", 22), ("CY", 28), ("CZ", 24), ("DE", 22), ("DK", 18), ("DO", 28), ("EE", 20),
            ("ES", 24), ("FI", 18), ("FO", 18), ("FR", 27), ("GB", 22), ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27),
            ("GT", 28), ("HR", 21), ("HU", 28), ("IE", 22), ("IL", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30),
            ("KZ", 20), ("LB", 28), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21), ("MC", 27), ("MD", 24), ("ME", 22),
            ("MK", 19), ("MR", 27), ("MT", 31), ("MU", 30), ("NL", 18), ("NO", 15), ("PK", 24), ("PL", 28), ("PS", 29),
            ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("SA", 24), ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27),
            ("TN", 24), ("TR", 26), ("UA", 29), ("VG", 24), ("XK", 20),
        })
            lengths[(country[0] - 'A') * 26 + country[1] - 'A'] = length;
        return lengths;
    }

    /// <summary>Country length and the ISO 13616 check: the rearranged number mod 97 is 1.</summary>
    public static bool Iban(ReadOnlySpan<char> text)
    {
        Span<char> iban = stackalloc char[34];
        var length = 0;
        foreach (var c in text)
        {
            if (c is ' ' or '.' or '-') continue;
            if (length == iban.Length) return false;
            iban[length++] = char.ToUpperInvariant(c);
        }
        if (length < 15 || !char.IsAsciiLetterUpper(iban[0]) || !char.IsAsciiLetterUpper(iban[1])) return false;
        if (IbanLengths[(iban[0] - 'A') * 26 + iban[1] - 'A'] != length) return false;
        // The number is read digit by digit (a letter is two digits, A = 10) into a 64-bit remainder, reduced
        // mod 97 once it reaches 10^16, below which two more digits cannot overflow it: a division per dozen digits.
        var remainder = 0L;
        for (var i = 0; i < length; i++)
        {
            var c = iban[(i + 4) % length]; // the first four characters move to the end
            var value = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiLetterUpper(c) ? c - 'A' + 10 : -1;
            if (value < 0) return false;
            remainder = value >= 10 ? remainder * 100 + value : remainder * 10 + value;
            if (remainder >= 10_000_000_000_000_000) remainder %= 97;
        }
        return remainder % 97 == 1;
    }

    /// <summary>US SSNs never have area 000, 666 or 900-999, group 00 or serial 0000.</summary>
    public static bool Ssn(ReadOnlySpan<char> area, ReadOnlySpan<char> group, ReadOnlySpan<char> serial) =>
        !area.SequenceEqual("000") && !area.SequenceEqual("666") && area[0] != '9' && !group.SequenceEqual("00") && !serial.SequenceEqual("0000");

    public static bool IPv4(ReadOnlySpan<char> text)
    {
        var parts = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (++parts > 4 || part.Length is < 1 or > 3 || (part.Length > 1 && part[0] == '0')) return false;
            var value = 0;
            foreach (var c in part)
            {
                if (!char.IsAsciiDigit(c)) return false;
                value = value * 10 + (c - '0');
            }
            if (value > 255) return false;
        }
        return parts == 4;
    }

    public static bool IPv6(ReadOnlySpan<char> text) =>
        text.Count(':') >= 2 && IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>Shannon entropy in bits per character.</summary>
    public static double Entropy(ReadOnlySpan<char> text)
    {
        if (text.Length == 0) return 0;
        Span<int> ascii = stackalloc int[128];
        Dictionary<char, int>? others = null;
        foreach (var c in text)
        {
            if (c < 128) ascii[c]++;
            else (others ??= [])[c] = others.GetValueOrDefault(c) + 1;
        }
        double entropy = 0, length = text.Length;
        foreach (var n in ascii) if (n > 0) entropy -= n / length * Math.Log2(n / length);
        if (others is not null)
            foreach (var n in others.Values) entropy -= n / length * Math.Log2(n / length);
        return entropy;
    }

    /// <summary>A JWT's first segment decodes (base64url) to a JSON header that names its algorithm.</summary>
    public static bool JwtHeader(ReadOnlySpan<char> segment)
    {
        if (segment.Length > 4096) return false;
        Span<byte> json = stackalloc byte[Base64Url.GetMaxDecodedLength(segment.Length)];
        return Base64Url.TryDecodeFromChars(segment, json, out var written)
               && written > 0 && json[0] == (byte)'{' && json[..written].IndexOf("\"alg\""u8) >= 0;
    }
}
