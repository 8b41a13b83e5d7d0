using System.Numerics;
using Portcullis.Masking.Detectors;

namespace Portcullis.UnitTests.Masking;

public class ValidatorTests
{
    /// <summary>The IBAN check reduces its remainder only now and then; it must agree with the whole number mod 97.</summary>
    [Fact]
    public void The_iban_check_agrees_with_the_whole_number_mod_97()
    {
        var random = new Random(97);
        const string characters = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        var valid = 0;
        for (var i = 0; i < 50_000; i++)
        {
            // Country codes with known lengths, the length right, and random check digits and account.
            var (country, length) = new[] { ("NL", 18), ("DE", 22), ("MT", 31), ("NO", 15), ("KW", 30), ("FR", 27) }[random.Next(6)];
            var body = new string(Enumerable.Range(0, length - 4).Select(_ => characters[random.Next(random.Next(2) == 0 ? 10 : 36)]).ToArray());
            var check = random.Next(3) == 0 ? CheckDigits(country, body) : random.Next(100).ToString("00");
            var iban = country + check + body;
            var expected = Reference(iban);
            Assert.True(expected == Validators.Iban(iban), iban);
            if (expected) valid++;
        }
        Assert.True(valid > 10_000, $"{valid} valid");
    }

    private static string CheckDigits(string country, string body) =>
        (98 - (int)(Number(body + country + "00") % 97)).ToString("00");

    private static bool Reference(string iban) => Number(iban[4..] + iban[..4]) % 97 == 1;

    private static BigInteger Number(string text) =>
        BigInteger.Parse(string.Concat(text.Select(c => char.IsAsciiDigit(c) ? c.ToString() : (c - 'A' + 10).ToString())));
}
