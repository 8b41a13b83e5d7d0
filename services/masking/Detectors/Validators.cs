using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Portcullis.Masking.Detectors;

/// <summary>The checks that tell a real value from a look-alike.</summary>
public static class Validators
{
    public static string Digits(string text)
    {
        var digits = new StringBuilder(text.Length);
        foreach (var c in text) if (char.IsAsciiDigit(c)) digits.Append(c);
        return digits.ToString();
    }

    public static bool Luhn(string digits)
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

    /// <summary>Issuer ranges of the major card networks, with their lengths.</summary>
    public static bool KnownIssuer(string digits)
    {
        int Prefix(int n) => int.Parse(digits.AsSpan(0, n));
        var length = digits.Length;
        return digits[0] switch
        {
            '4' => length is 13 or 16 or 19, // Visa
            '5' => Prefix(2) is >= 51 and <= 55 && length == 16, // Mastercard
            '2' => Prefix(4) is >= 2221 and <= 2720 && length == 16, // Mastercard 2-series
            '3' => (Prefix(2) is 34 or 37 && length == 15) // Amex
                   || (Prefix(4) is >= 3528 and <= 3589 && length is >= 16 and <= 19) // JCB
                   || ((Prefix(3) is >= 300 and <= 305 || Prefix(2) is 36 or 38 or 39) && length is >= 14 and <= 19), // Diners
            '6' => (digits.StartsWith("6011", StringComparison.Ordinal) || digits.StartsWith("65", StringComparison.Ordinal)
                    || Prefix(3) is >= 644 and <= 649 || Prefix(6) is >= 622126 and <= 622925) && length is >= 16 and <= 19, // Discover, UnionPay
            _ => false,
        };
    }

    private static readonly Dictionary<string, int> IbanLengths = new(StringComparer.Ordinal)
    {
        ["AD"] = 24, ["AE"] = 23, ["AL"] = 28, ["AT"] = 20, ["AZ"] = 28, ["BA"] = 20, ["BE"] = 16, ["BG"] = 22, ["BH"] = 22,
        ["BR"] = 29, ["CH"] = 21, ["CR"] = 22, ["CY"] = 28, ["CZ"] = 24, ["DE"] = 22, ["DK"] = 18, ["DO"] = 28, ["EE"] = 20,
        ["ES"] = 24, ["FI"] = 18, ["FO"] = 18, ["FR"] = 27, ["GB"] = 22, ["GE"] = 22, ["GI"] = 23, ["GL"] = 18, ["GR"] = 27,
        ["GT"] = 28, ["HR"] = 21, ["HU"] = 28, ["IE"] = 22, ["IL"] = 23, ["IS"] = 26, ["IT"] = 27, ["JO"] = 30, ["KW"] = 30,
        ["KZ"] = 20, ["LB"] = 28, ["LI"] = 21, ["LT"] = 20, ["LU"] = 20, ["LV"] = 21, ["MC"] = 27, ["MD"] = 24, ["ME"] = 22,
        ["MK"] = 19, ["MR"] = 27, ["MT"] = 31, ["MU"] = 30, ["NL"] = 18, ["NO"] = 15, ["PK"] = 24, ["PL"] = 28, ["PS"] = 29,
        ["PT"] = 25, ["QA"] = 29, ["RO"] = 24, ["RS"] = 22, ["SA"] = 24, ["SE"] = 24, ["SI"] = 19, ["SK"] = 24, ["SM"] = 27,
        ["TN"] = 24, ["TR"] = 26, ["UA"] = 29, ["VG"] = 24, ["XK"] = 20,
    };

    /// <summary>Country length and the ISO 13616 check: the rearranged number mod 97 is 1.</summary>
    public static bool Iban(string text)
    {
        var iban = text.Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        if (iban.Length < 15 || !IbanLengths.TryGetValue(iban[..2], out var length) || iban.Length != length) return false;
        var remainder = 0;
        foreach (var c in iban[4..] + iban[..4])
        {
            var value = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiLetterUpper(c) ? c - 'A' + 10 : -1;
            if (value < 0) return false;
            remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
        }
        return remainder == 1;
    }

    /// <summary>US SSNs never have area 000, 666 or 900-999, group 00 or serial 0000.</summary>
    public static bool Ssn(string area, string group, string serial) =>
        area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000";

    public static bool IPv4(string text)
    {
        var parts = text.Split('.');
        return parts.Length == 4 && parts.All(p => p.Length is >= 1 and <= 3 && (p.Length == 1 || p[0] != '0')
                                                   && int.TryParse(p, out var n) && n <= 255);
    }

    public static bool IPv6(string text) =>
        text.Count(c => c == ':') >= 2 && IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>Shannon entropy in bits per character.</summary>
    public static double Entropy(string text)
    {
        if (text.Length == 0) return 0;
        var counts = new Dictionary<char, int>();
        foreach (var c in text) counts[c] = counts.GetValueOrDefault(c) + 1;
        return -counts.Values.Sum(n => (double)n / text.Length * Math.Log2((double)n / text.Length));
    }

    public static bool JwtHeader(string segment)
    {
        try
        {
            var padded = segment.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var json = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            return json.StartsWith('{') && json.Contains("\"alg\"", StringComparison.Ordinal);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
