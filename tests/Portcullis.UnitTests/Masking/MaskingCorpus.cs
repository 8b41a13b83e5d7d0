using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Portcullis.UnitTests.Masking;

/// <summary>A text and the sensitive values in it, by entity and position.</summary>
public sealed record LabelledText(string Text, IReadOnlyList<(string Entity, int Start, int Length)> Expected);

/// <summary>
/// The masking corpus: synthetic records made with a fixed seed (every entity, in varied contexts, and
/// near-misses that must not be found), plus the hand-written edge cases in Corpus/edge-cases.txt.
/// </summary>
public static partial class MaskingCorpus
{
    public const int Seed = 20261128;
    private const string Alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private static readonly string[] Contexts =
    [
        "{0}", "Contact: {0}.", "value={0};next=1", "{{\"field\":\"{0}\",\"n\":3}}", "log line 42 [{0}] ok",
        "see https://intranet.example/view?ref={0}&x=1", "<td>{0}</td>", "before {0} after", "\"{0}\"", "a,b,{0},c",
    ];

    public static IReadOnlyList<LabelledText> All() => [.. Synthetic(40), .. EdgeCases()];

    public static IEnumerable<LabelledText> Synthetic(int perEntity)
    {
        var random = new Random(Seed);
        var generators = new (string Entity, Func<Random, string> Make)[]
        {
            ("EMAIL", r => $"{Word(r, 3, 8).ToLowerInvariant()}{(r.Next(2) == 0 ? "." : "_")}{Word(r, 2, 6).ToLowerInvariant()}@{Word(r, 3, 9).ToLowerInvariant()}.{Pick(r, "com", "org", "net", "io", "nl", "co.uk")}"),
            ("PHONE", Phone),
            ("CARD", Card),
            ("IBAN", Iban),
            ("SSN", r => $"{r.Next(1, 666):000}-{r.Next(1, 100):00}-{r.Next(1, 10000):0000}"),
            ("IPV4", r => $"{r.Next(1, 256)}.{r.Next(0, 256)}.{r.Next(0, 256)}.{r.Next(1, 255)}"),
            ("IPV6", r => new IPAddress([.. Enumerable.Range(0, 16).Select(_ => (byte)r.Next(256))]) is var a && a.ToString().Contains(':') ? a.ToString() : "2001:db8::1"),
            ("AWS_ACCESS_KEY", r => "AKIA" + Chars(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
            ("GITHUB_TOKEN", r => "ghp_" + Chars(r, Alnum, 36)),
            ("GITLAB_TOKEN", r => "glpat-" + Chars(r, Alnum + "_-", 20)),
            ("SLACK_TOKEN", r => $"xoxb-{Chars(r, "0123456789", 12)}-{Chars(r, "0123456789", 13)}-{Chars(r, Alnum, 24)}"),
            ("STRIPE_KEY", r => "sk_live_" + Chars(r, Alnum, 24)),
            ("GOOGLE_API_KEY", r => "AIza" + Chars(r, Alnum + "_-", 35)),
            ("JWT", Jwt),
        };
        foreach (var (entity, make) in generators)
            for (var i = 0; i < perEntity; i++)
            {
                var value = make(random);
                var context = Contexts[random.Next(Contexts.Length)];
                if (entity is "IPV6" && context.Contains("{0}&")) context = "{0}"; // an IPv6 in a query would be bracketed
                yield return Place(string.Format(context, value), value, entity);
            }

        // Secrets that are known by where they stand.
        for (var i = 0; i < perEntity; i++)
        {
            var password = Chars(random, Alnum, random.Next(10, 20));
            yield return Place($"DATABASE_URL=postgres://app_{i}:{password}@db{i}.internal:5432/app", password, "URL_CREDENTIALS");
            var connectionPassword = Chars(random, Alnum + "!#%&", random.Next(10, 20));
            yield return Place($"Host=db;Username=app;Password={connectionPassword};Pooling=true", connectionPassword, "CONNECTION_STRING_PASSWORD");
            var awsSecret = Chars(random, Alnum + "/+", 40);
            yield return Place($"aws_secret_access_key = {awsSecret}", awsSecret, "AWS_SECRET_KEY");
            var assigned = Chars(random, Alnum, random.Next(12, 32));
            yield return Place($"{Pick(random, "api_key", "token", "client_secret", "password")}: \"{assigned}\"", assigned, "SECRET_ASSIGNMENT");
            var key = string.Join('\n', Enumerable.Range(0, 4).Select(_ => Chars(random, Alnum + "+/", 64)));
            var pem = $"-----BEGIN PRIVATE KEY-----\n{key}\n-----END PRIVATE KEY-----";
            yield return Place($"key file:\n{pem}\n", pem, "PRIVATE_KEY");
        }

        // Near misses: each must yield nothing.
        for (var i = 0; i < perEntity; i++)
        {
            var card = Card(random);
            var digits = card.Where(char.IsAsciiDigit).ToArray();
            digits[^1] = (char)('0' + (digits[^1] - '0' + 1 + random.Next(8)) % 10); // the check digit breaks
            yield return new LabelledText($"order number {new string(digits)} shipped", []);
            var iban = Iban(random).Replace(" ", "");
            var broken = iban[..2] + ((int.Parse(iban[2..4]) + 1 + random.Next(50)) % 100).ToString("00") + iban[4..];
            if (!Portcullis.Masking.Detectors.Validators.Iban(broken)) yield return new LabelledText($"account {broken} closed", []);
            yield return new LabelledText($"ssn {Pick(random, "000", "666", "9" + random.Next(10, 100))}-{random.Next(1, 100):00}-{random.Next(1, 10000):0000} is not valid", []);
            yield return new LabelledText($"release {random.Next(1, 9)}.{random.Next(0, 20)}.{random.Next(0, 30)} on 2026-{random.Next(1, 13):00}-{random.Next(1, 29):00} at {random.Next(0, 24):00}:{random.Next(0, 60):00}:{random.Next(0, 60):00}", []);
            yield return new LabelledText($"sha1 {Chars(random, "0123456789abcdef", 40)} and uuid {new Guid([.. Enumerable.Range(0, 16).Select(_ => (byte)random.Next(256))])}", []);
            yield return new LabelledText($"{Pick(random, "password", "token", "api_key")}: {Pick(random, "null", "<redacted>", "${SECRET}", "********", "none")}", []);
        }
    }

    /// <summary>
    /// The hand-written cases: every Corpus/*.txt but the JSON ones, one text a line, grouped by class in files
    /// of their own. <c>\uXXXX</c> stands for a character that cannot be seen (a zero-width space, a no-break
    /// space) or told apart (a Cyrillic 'а'); <c>\\</c> for a backslash (text that holds escapes itself).
    /// </summary>
    public static IEnumerable<LabelledText> EdgeCases()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Masking", "Corpus");
        foreach (var file in Directory.GetFiles(folder, "*.txt").Order(StringComparer.Ordinal))
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith('#') || line.Length == 0) continue;
                yield return Parse(Unescape(line));
            }
    }

    /// <summary>JSON documents with marked values (Corpus/*.json.lines): masked through the content masker, key names and all.</summary>
    public static IEnumerable<(string Json, string Expected, IReadOnlyList<string> Entities)> JsonCases()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Masking", "Corpus");
        foreach (var file in Directory.GetFiles(folder, "*.jsonl").Order(StringComparer.Ordinal))
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith('#') || line.Length == 0) continue;
                var text = Unescape(line);
                var json = Mark().Replace(text, m => m.Groups["value"].Value);
                // A marked value inside quotes becomes its tag; a marked number becomes its tag as a string.
                var expected = Mark().Replace(text, m => text[..m.Index].Count(c => c == '"') % 2 == 1
                    ? $"[{m.Groups["entity"].Value}]" : $"\"[{m.Groups["entity"].Value}]\"");
                yield return (json, expected, [.. Mark().Matches(text).Select(m => m.Groups["entity"].Value)]);
            }
    }

    private static string Unescape(string line) => UnicodeEscape().Replace(line, m =>
        m.Groups[1].Success ? ((char)Convert.ToInt32(m.Groups[1].Value, 16)).ToString() : "\\");

    private static LabelledText Parse(string line)
    {
        var text = new StringBuilder();
        var expected = new List<(string, int, int)>();
        var at = 0;
        foreach (Match mark in Mark().Matches(line))
        {
            text.Append(line, at, mark.Index - at);
            expected.Add((mark.Groups["entity"].Value, text.Length, mark.Groups["value"].Length));
            text.Append(mark.Groups["value"].Value);
            at = mark.Index + mark.Length;
        }
        text.Append(line, at, line.Length - at);
        return new LabelledText(text.ToString(), expected);
    }

    [GeneratedRegex(@"\\(?:u([0-9A-Fa-f]{4})|\\)")]
    private static partial Regex UnicodeEscape();

    [GeneratedRegex("«(?<entity>[A-Z0-9_]+):(?<value>[^»]+)»")]
    private static partial Regex Mark();

    private static LabelledText Place(string text, string value, string entity) =>
        new(text, [(entity, text.IndexOf(value, StringComparison.Ordinal), value.Length)]);

    private static string Chars(Random r, string alphabet, int length) =>
        new(Enumerable.Range(0, length).Select(_ => alphabet[r.Next(alphabet.Length)]).ToArray());

    private static string Word(Random r, int min, int max) => Chars(r, "abcdefghijklmnopqrstuvwxyz", r.Next(min, max + 1));

    private static string Pick(Random r, params string[] options) => options[r.Next(options.Length)];

    private static string Phone(Random r) => r.Next(5) switch
    {
        0 => $"+31 6 {r.Next(1000, 10000)} {r.Next(1000, 10000)}",
        1 => $"+1 ({r.Next(200, 1000)}) {r.Next(200, 1000)}-{r.Next(1000, 10000)}",
        2 => $"({r.Next(200, 1000)}) {r.Next(200, 1000)}-{r.Next(1000, 10000)}",
        3 => $"+44 20 {r.Next(1000, 10000)} {r.Next(1000, 10000)}",
        _ => $"0{r.Next(10, 100)}-{r.Next(1000000, 10000000)}",
    };

    private static string Card(Random r)
    {
        var (prefix, length) = r.Next(4) switch
        {
            0 => ("4", 16),
            1 => ($"5{r.Next(1, 6)}", 16),
            2 => (r.Next(2) == 0 ? "34" : "37", 15),
            _ => ("6011", 16),
        };
        var digits = prefix + Chars(r, "0123456789", length - prefix.Length - 1);
        for (var check = 0; check < 10; check++)
            if (Portcullis.Masking.Detectors.Validators.Luhn(digits + check)) { digits += check; break; }
        return r.Next(3) switch
        {
            0 => digits,
            1 when length == 16 => string.Join(' ', digits.Chunk(4).Select(c => new string(c))),
            _ when length == 16 => string.Join('-', digits.Chunk(4).Select(c => new string(c))),
            _ => digits,
        };
    }

    private static string Iban(Random r)
    {
        var (country, bban) = r.Next(3) switch
        {
            0 => ("NL", Chars(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + Chars(r, "0123456789", 10)),
            1 => ("DE", Chars(r, "0123456789", 18)),
            _ => ("GB", Chars(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + Chars(r, "0123456789", 14)),
        };
        var numeric = string.Concat((bban + country + "00").Select(c => char.IsAsciiDigit(c) ? c.ToString() : (c - 'A' + 10).ToString()));
        var remainder = numeric.Aggregate(0, (acc, c) => (acc * 10 + (c - '0')) % 97);
        var iban = $"{country}{98 - remainder:00}{bban}";
        return r.Next(2) == 0 ? iban : string.Join(' ', iban.Chunk(4).Select(c => new string(c)));
    }

    private static string Jwt(Random r)
    {
        static string B64(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return $"{B64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}")}.{B64($"{{\"sub\":\"{Chars(r, Alnum, 10)}\",\"iat\":{r.Next()}}}")}.{Chars(r, Alnum + "-_", 43)}";
    }
}
