using System.Text;
using Portcullis.Masking.Detectors;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// A hand-written matcher stands in for its detector's regex on all-ASCII texts, so it must find exactly the
/// matches the regex finds, at the same places and of the same lengths, on every such text: the corpus, the
/// gate tests' fuzzed texts, and texts drawn from the characters each pattern turns on.
/// </summary>
public class AsciiMatcherTests
{
    // Per detector: the characters its pattern reads (and a few it does not), in the proportions that make near-misses.
    public static TheoryData<string, string> Alphabets() => new()
    {
        { "iban", "ABNLZ0123456789012345678901234567890     abz-" },
        { "ipv4", "0123456789012345678901234567890123....... a:" },
        { "email", "abcxyzABZ0129._%+-@@...----  ," },
    };

    [Theory]
    [MemberData(nameof(Alphabets))]
    public void A_hand_written_matcher_finds_what_its_regex_finds(string entity, string alphabet)
    {
        var detector = (PatternDetector)DetectorCatalog.All[entity];
        var matcher = detector.AsciiMatcher ?? throw new InvalidOperationException($"{entity} has no hand-written matcher");
        var mismatches = new List<string>();
        var compared = 0;
        var matched = 0;
        foreach (var text in Texts(alphabet).Where(t => Ascii.IsValid(t)))
        {
            var expected = new List<(int, int)>();
            foreach (var match in detector.Pattern.EnumerateMatches(text)) expected.Add((match.Index, match.Length));
            var actual = new List<(int, int)>();
            for (var from = 0; from < text.Length;)
            {
                var index = matcher(text, from, out var length);
                if (index < 0) break;
                actual.Add((index, length));
                from = index + length;
            }
            if (!expected.SequenceEqual(actual))
                mismatches.Add($"'{text}': regex [{string.Join(",", expected)}] matcher [{string.Join(",", actual)}]");
            compared++;
            if (expected.Count > 0) matched++;
        }
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches.Take(20)));
        // The texts must exercise the pattern, not only miss it.
        Assert.True(compared > 60_000, $"{compared} texts compared");
        Assert.True(matched > 1_000, $"only {matched} texts with a match");
    }

    private static IEnumerable<string> Texts(string alphabet)
    {
        foreach (var text in DetectorGateTests.Texts()) yield return text;
        var random = new Random(7);
        for (var i = 0; i < 40_000; i++)
        {
            var chars = new char[random.Next(1, 72)];
            for (var c = 0; c < chars.Length; c++) chars[c] = alphabet[random.Next(alphabet.Length)];
            yield return new string(chars);
        }
        // Real values with one character changed, inserted or removed, inside other text.
        string[] values =
        [
            "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "378282246310005", "6011 0009 9013 9424 123",
            "NL91 ABNA 0417 1643 00", "NL91ABNA0417164300", "GB82 WEST 1234 5698 7654 32", "DE89 3704 0044 0532 0130 00",
            "10.0.0.1", "192.168.255.254", "255.255.255.255", "1.2.3.4.5", "user.name+tag@example.co.uk", "a@b.cd",
            "first-last@sub-domain.example.com", "x@y.z",
        ];
        const string edits = "0123456789 -.@ABZaz_";
        for (var i = 0; i < 20_000; i++)
        {
            var value = new StringBuilder(values[random.Next(values.Length)]);
            for (var e = random.Next(0, 3); e > 0; e--)
            {
                var at = random.Next(value.Length);
                switch (random.Next(3))
                {
                    case 0: value[at] = edits[random.Next(edits.Length)]; break;
                    case 1: value.Insert(at, edits[random.Next(edits.Length)]); break;
                    default: value.Remove(at, 1); break;
                }
            }
            var before = random.Next(4) switch { 0 => "", 1 => " ", 2 => "x", _ => "id:" };
            var after = random.Next(4) switch { 0 => "", 1 => " ", 2 => "9", _ => ".com" };
            yield return before + value + after + (random.Next(3) == 0 ? " and " + values[random.Next(values.Length)] : "");
        }
        // Runs about as long as the patterns allow (64-character local parts, 63-character labels, 24-letter
        // top-level domains), a little under and a little over.
        string Run(string characters, int min, int max) =>
            new(Enumerable.Range(0, random.Next(min, max + 1)).Select(_ => characters[random.Next(characters.Length)]).ToArray());
        for (var i = 0; i < 5_000; i++)
            yield return Run("ab9_%+-.", 58, 70) + "@" + Run("ab9-", 58, 68) + "." + (random.Next(2) == 0 ? Run("ab9-", 1, 3) + "." : "")
                         + Run("abZ", 19, 27) + (random.Next(2) == 0 ? "" : Run(".-a", 1, 2));
    }
}
