using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Every detector Portcullis has, by stable name (the name portcullis.yaml uses is the entity in lower case).
/// Secrets outrank personal data where two findings overlap.
/// </summary>
public static partial class DetectorCatalog
{
    // Each gate is a necessary condition of its pattern, in character counts only: the shortest text the
    // pattern (and its validation) can accept, and the characters it cannot do without. Literals are the
    // words a pattern cannot do without (one of its prefixes or keywords), also necessary conditions.
    public static readonly IReadOnlyDictionary<string, IDetector> All = new IDetector[]
    {
        new PatternDetector("PRIVATE_KEY", 120, PrivateKey(), new Gate(Dashes: 20), literals: Exactly("-----BEGIN ")),
        new PatternDetector("JWT", 110, Jwt(), new Gate(Length: 26, Dots: 2),
            PatternDetector.Whole(match => Validators.JwtHeader(match[..match.IndexOf('.')])), literals: Exactly("eyJ")),
        new PatternDetector("URL_CREDENTIALS", 105, UrlCredentials(), new Gate(Colons: 2, At: 1), UrlPassword, literals: Exactly("://")),
        new PatternDetector("CONNECTION_STRING_PASSWORD", 100, ConnectionStringPassword(), new Gate(Length: 5, EqualSigns: 1), AssignedValue,
            literals: AnyCase("password", "pwd")),
        new PatternDetector("AWS_ACCESS_KEY", 100, AwsAccessKey(), new Gate(Uppers: 4, UppersOrDigits: 20),
            literals: Exactly("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA")),
        new PatternDetector("AWS_SECRET_KEY", 95, AwsSecretKey(), new Gate(Length: 49), AwsSecretValue, literals: AnyCase("secret")),
        new PatternDetector("GITHUB_TOKEN", 100, GitHubToken(), new Gate(Length: 40, Underscores: 1),
            literals: Exactly("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
        new PatternDetector("GITLAB_TOKEN", 100, GitLabToken(), new Gate(Length: 26, Dashes: 1), literals: Exactly("glpat-")),
        new PatternDetector("SLACK_TOKEN", 100, SlackToken(), new Gate(Length: 15, Dashes: 1), literals: Exactly("xox", "xapp-")),
        new PatternDetector("STRIPE_KEY", 100, StripeKey(), new Gate(Length: 32, Underscores: 2), literals: Exactly("_live_", "_test_")),
        new PatternDetector("GOOGLE_API_KEY", 100, GoogleApiKey(), new Gate(Length: 39, Uppers: 2), literals: Exactly("AIza")),
        new PatternDetector("SECRET_ASSIGNMENT", 90, SecretAssignment(), new Gate(Length: 6, EqualSignsOrColons: 1), AssignedSecret,
            literals: AnyCase("pass", "secret", "token", "api", "access")),
        new PatternDetector("CARD", 60, Card(), new Gate(Digits: 13), PatternDetector.Whole(Validators.Card), s => s.LongestCardChain >= 13,
            ascii: AsciiMatchers.Card),
        new PatternDetector("IBAN", 60, Iban(), new Gate(Length: 15, Digits: 6, Uppers: 2), PatternDetector.Whole(Validators.Iban),
            ascii: AsciiMatchers.Iban),
        new PatternDetector("SSN", 55, Ssn(), new Gate(Digits: 9, DashesOrSpaces: 2),
            PatternDetector.Whole(match => Validators.Ssn(match[..3], match[4..6], match[7..11])), s => s.HasSsnGroups),
        new PatternDetector("EMAIL", 50, Email(), new Gate(At: 1, Dots: 1), ascii: AsciiMatchers.Email),
        new PatternDetector("PHONE", 40, Phone(), new Gate(Digits: 8), PatternDetector.Whole(Validators.Phone), s => s.MayStartPhone),
        new PatternDetector("IPV4", 30, IPv4(), new Gate(Digits: 4, Dots: 3), PatternDetector.Whole(Validators.IPv4), ascii: AsciiMatchers.IPv4),
        new PatternDetector("IPV6", 30, IPv6(), new Gate(Colons: 2), PatternDetector.Whole(Validators.IPv6)),
    }.ToDictionary(d => d.Entity.ToLowerInvariant(), StringComparer.OrdinalIgnoreCase);

    private static Literals Exactly(params string[] words) => new(false, words);
    private static Literals AnyCase(params string[] words) => new(true, words);

    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> Placeholders =
        new HashSet<string>(["null", "none", "undefined", "true", "false", "redacted", "changeme", "password", "********", "<secret>", "example"],
            StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();

    // scheme://user:password@ : the password runs from the first ':' after "//" to the final '@'.
    private static bool UrlPassword(ReadOnlySpan<char> match, out int start, out int length)
    {
        var user = match.IndexOf("://") + 3;
        start = user + match[user..].IndexOf(':') + 1;
        length = match.Length - 1 - start;
        return true;
    }

    // keyword = value: the value follows the first '=' or ':' (a keyword has neither), blanks and an opening quote.
    private static bool AssignedValue(ReadOnlySpan<char> match, out int start, out int length)
    {
        start = match.IndexOfAny('=', ':') + 1;
        while (start < match.Length && char.IsWhiteSpace(match[start])) start++;
        if (start < match.Length && match[start] is '"' or '\'') start++;
        length = match.Length - start;
        return true;
    }

    private static bool AssignedSecret(ReadOnlySpan<char> match, out int start, out int length) =>
        AssignedValue(match, out start, out length) && IsSecretValue(match.Slice(start, length));

    // The key is the pattern's last 40 characters.
    private static bool AwsSecretValue(ReadOnlySpan<char> match, out int start, out int length)
    {
        (start, length) = (match.Length - 40, 40);
        return Validators.Entropy(match[start..]) >= 4.0;
    }

    /// <summary>An assigned value that looks like a real secret: long enough, varied enough, not a placeholder.</summary>
    private static bool IsSecretValue(ReadOnlySpan<char> value) =>
        value.Length >= 8 && !Placeholders.Contains(value) && value.IndexOfAnyExcept('*', 'x', 'X') >= 0
        && value[0] is not ('[' or '<' or '$' or '%' or '*') && Validators.Entropy(value) >= 2.5;

    [GeneratedRegex(@"-----BEGIN (?<kind>[A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \k<kind>PRIVATE KEY-----")]
    private static partial Regex PrivateKey();

    [GeneratedRegex(@"(?<![A-Za-z0-9_-])(?:eyJ[A-Za-z0-9_-]{5,})\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])")]
    private static partial Regex Jwt();

    [GeneratedRegex(@"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://(?:[^:/@\s""']+):(?:[^@/\s""']+)@")]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"(?i)(?<![A-Za-z])(?:password|pwd)\s*=\s*(?:[^;""'\s]+)")]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])")]
    private static partial Regex AwsAccessKey();

    [GeneratedRegex(@"(?i)(?:aws.{0,20}secret|secret.{0,20}aws|aws_secret_access_key|secret_?access_?key).{0,12}?(?<![A-Za-z0-9/+])(?:[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")]
    private static partial Regex AwsSecretKey();

    [GeneratedRegex(@"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])")]
    private static partial Regex GitHubToken();

    [GeneratedRegex(@"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])")]
    private static partial Regex GitLabToken();

    [GeneratedRegex(@"(?<![A-Za-z0-9-])(?:xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})")]
    private static partial Regex SlackToken();

    [GeneratedRegex(@"(?<![A-Za-z0-9_])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,99}(?![A-Za-z0-9])")]
    private static partial Regex StripeKey();

    [GeneratedRegex(@"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])")]
    private static partial Regex GoogleApiKey();

    [GeneratedRegex(@"(?i)(?<![A-Za-z0-9])(?:password|passwd|pass|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth[_-]?token)[""']?\s*[:=]\s*[""']?(?:[^\s""',;}{]+)")]
    private static partial Regex SecretAssignment();

    [GeneratedRegex(@"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")]
    private static partial Regex Card();

    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")]
    private static partial Regex Iban();

    [GeneratedRegex(@"(?<![\d-])(?:\d{3})[- ](?:\d{2})[- ](?:\d{4})(?![\d-])")]
    private static partial Regex Ssn();

    // Local part of RFC 5322's dot-atom characters, a domain of labels and a letters-only TLD.
    [GeneratedRegex(@"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])")]
    private static partial Regex Email();

    // International (+CC, then groups) or national forms with separators: (555) 123-4567, 555-123-4567, 06-12345678, 020 123 4567.
    [GeneratedRegex(@"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}-\d{4}|\d{3}-\d{3}-\d{4}|0\d{1,3}[- ]\d{3,4}[- ]?\d{3,4}|0\d-\d{8})(?![\w-])")]
    private static partial Regex Phone();

    [GeneratedRegex(@"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d]|\.\d)")]
    private static partial Regex IPv4();

    [GeneratedRegex(@"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")]
    private static partial Regex IPv6();
}
