using Portcullis.Masking.Detectors;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// The gates (character counts) and digit-group checks are only allowed to skip work: for every text, a
/// detector behind its gate must find exactly what its pattern finds when run directly.
/// </summary>
public class DetectorGateTests
{
    // Digits of other scripts match \d in the patterns, so the digit-group checks must count them too.
    private const string Alphabet = "0123456789000111 -- . () + @ :: = _ / AKIAZX glpat xoxb sk_live_ eyJ abc \u0663\u0664\u0665\u0666 é";

    public static IEnumerable<string> Texts()
    {
        foreach (var sample in MaskingCorpus.All()) yield return sample.Text;
        var random = new Random(42);
        for (var i = 0; i < 20_000; i++)
        {
            var length = random.Next(1, 48);
            var chars = new char[length];
            for (var c = 0; c < length; c++) chars[c] = Alphabet[random.Next(Alphabet.Length)];
            yield return new string(chars);
        }
        // Values of the right shape built from random groups: phones, SSNs and cards in every separator style.
        for (var i = 0; i < 10_000; i++)
        {
            var groups = random.Next(1, 6);
            var text = random.Next(3) == 0 ? "+" : random.Next(2) == 0 ? "0" : "";
            for (var g = 0; g < groups; g++)
            {
                text += string.Concat(Enumerable.Range(0, random.Next(1, 9)).Select(_ => (char)('0' + random.Next(10))));
                if (g < groups - 1) text += "  -.()"[random.Next(6)];
            }
            yield return text;
        }
        // Texts made of the words the patterns need, in any case, some with letters a case-insensitive pattern
        // also takes for ASCII ones (the Kelvin sign for 'k', the long s for 's').
        string[] words = ["password", "pwd", "pass", "secret", "token", "api_key", "access-key", "client_secret", "auth_token",
            "aws", "aws_secret_access_key", "key", "=", ":", " ", "\"", "'", ";", "AKIAIOSFODNN7EXAMPLE", "ASIA", "eyJhbGciOiJIUzI1NiJ9",
            ".", "glpat-", "xoxb-", "xapp-1-", "sk_live_", "rk_test_", "AIza", "ghp_", "github_pat_", "://", "user:pw@", "-----BEGIN ",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "Zx9", "0123456789abcdefABCDEF", "_"];
        for (var i = 0; i < 10_000; i++)
        {
            var text = new System.Text.StringBuilder();
            for (var w = random.Next(1, 9); w > 0; w--)
            {
                var word = words[random.Next(words.Length)];
                if (random.Next(3) == 0) word = string.Concat(word.Select(c => random.Next(2) == 0 ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)));
                if (random.Next(10) == 0) word = word.Replace('k', '\u212A').Replace('K', '\u212A').Replace('s', '\u017F');
                text.Append(word);
            }
            yield return text.ToString();
        }
    }

    [Fact]
    public void A_gated_detector_finds_what_its_pattern_finds_on_every_text()
    {
        var mismatches = new List<string>();
        var checkedTexts = 0;
        foreach (var detector in DetectorCatalog.All.Values)
        {
            var gated = new TextMasker([detector], normalise: false);
            foreach (var text in Texts())
            {
                var direct = new List<Finding>();
                detector.Find(text, direct);
                var found = gated.Find(text);
                // One detector's findings never overlap each other, so the gated run keeps them all.
                if (!direct.SequenceEqual(found)) mismatches.Add($"{detector.Entity}: '{text}' direct [{string.Join(",", direct)}] gated [{string.Join(",", found)}]");
                checkedTexts++;
            }
        }
        Assert.True(checkedTexts > 19 * 25_000);
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(20)));
    }

    [Fact]
    public void Counts_taken_in_utf8_bytes_admit_whatever_counts_taken_in_characters_admit()
    {
        var masker = new TextMasker([.. DetectorCatalog.All.Values], normalise: false);
        foreach (var text in Texts())
        {
            var characters = TextTraits.Of(text.AsSpan());
            var bytes = TextTraits.Of(System.Text.Encoding.UTF8.GetBytes(text).AsSpan());
            if (masker.MayFind(characters)) Assert.True(masker.MayFind(bytes), text);
            Assert.Equal(characters.Digits, bytes.Digits);
            Assert.Equal(characters.Uppers, bytes.Uppers);
        }
    }

    [Fact]
    public void Digit_groups_are_read_as_the_detectors_read_them()
    {
        Assert.Equal(16, DigitShape.Of("4111 1111-1111 1111").LongestCardChain);
        Assert.Equal(16, DigitShape.Of("4111  1111.1111_1111").LongestCardChain); // doubled, dots, underscores
        Assert.Equal(4, DigitShape.Of("4111   1111").LongestCardChain); // three separators break the chain
        Assert.True(DigitShape.Of("id 078-05-1120.").HasSsnGroups);
        Assert.True(DigitShape.Of("id 078.05.1120").HasSsnGroups);
        Assert.True(DigitShape.Of("ssn 078051120").HasSsnGroups);
        Assert.False(DigitShape.Of("0781-05-1120").HasSsnGroups);
        Assert.True(DigitShape.Of("\u0660\u0667\u0668 05 1120").HasSsnGroups); // Arabic-Indic digits count too
    }
}
