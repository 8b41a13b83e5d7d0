using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Every detector Portcullis has, by stable name (the name portcullis.yaml uses is the entity in lower case).
/// Secrets outrank personal data where two findings overlap.
/// </summary>
public static partial class DetectorCatalog
{
    private static readonly string[] PasswordWords = ["pass", "pwd"];
    private static readonly string[] SecretWords = ["pass", "secret", "token", "key"];
    private static readonly string[] AwsKeyPrefixes = ["AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"];
    private static readonly string[] GitHubPrefixes = ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"];

    public static readonly IReadOnlyDictionary<string, IDetector> All = new IDetector[]
    {
        new PatternDetector("PRIVATE_KEY", 120, PrivateKey(), (t, _) => t.Contains("PRIVATE KEY-----", StringComparison.Ordinal)),
        new PatternDetector("JWT", 110, Jwt(), (t, _) => t.Contains("eyJ", StringComparison.Ordinal),
            m => Validators.JwtHeader(m.Groups["header"].Value)),
        new PatternDetector("URL_CREDENTIALS", 105, UrlCredentials(), (t, _) => t.Contains("://", StringComparison.Ordinal), valueGroup: "password"),
        new PatternDetector("CONNECTION_STRING_PASSWORD", 100, ConnectionStringPassword(), (t, _) => HasAny(t, PasswordWords), valueGroup: "value"),
        new PatternDetector("AWS_ACCESS_KEY", 100, AwsAccessKey(), (t, _) => HasAny(t, AwsKeyPrefixes, ignoreCase: false)),
        new PatternDetector("AWS_SECRET_KEY", 95, AwsSecretKey(),
            (t, _) => t.Contains("aws", StringComparison.OrdinalIgnoreCase) || t.Contains("secret", StringComparison.OrdinalIgnoreCase),
            m => Validators.Entropy(m.Groups["value"].Value) >= 4.0, "value"),
        new PatternDetector("GITHUB_TOKEN", 100, GitHubToken(), (t, _) => HasAny(t, GitHubPrefixes, ignoreCase: false)),
        new PatternDetector("GITLAB_TOKEN", 100, GitLabToken(), (t, _) => t.Contains("glpat-", StringComparison.Ordinal)),
        new PatternDetector("SLACK_TOKEN", 100, SlackToken(), (t, _) => t.Contains("xox", StringComparison.Ordinal) || t.Contains("xapp-", StringComparison.Ordinal)),
        new PatternDetector("STRIPE_KEY", 100, StripeKey(), (t, _) => t.Contains("_live_", StringComparison.Ordinal) || t.Contains("_test_", StringComparison.Ordinal)),
        new PatternDetector("GOOGLE_API_KEY", 100, GoogleApiKey(), (t, _) => t.Contains("AIza", StringComparison.Ordinal)),
        new PatternDetector("SECRET_ASSIGNMENT", 90, SecretAssignment(), (t, _) => MayHaveAssignment(t) && HasAny(t, SecretWords),
            m => IsSecretValue(m.Groups["value"].Value), "value"),
        new PatternDetector("CARD", 60, Card(), (t, traits) => traits.Digits >= 13,
            m => Validators.Digits(m.Value) is var digits && digits.Length is >= 13 and <= 19 && Validators.Luhn(digits) && Validators.KnownIssuer(digits)),
        new PatternDetector("IBAN", 60, Iban(), (t, traits) => traits.Digits >= 6, m => Validators.Iban(m.Value)),
        new PatternDetector("SSN", 55, Ssn(), (t, traits) => traits.Digits >= 9 && (t.Contains('-') || t.Contains(' ')),
            m => Validators.Ssn(m.Groups["area"].Value, m.Groups["group"].Value, m.Groups["serial"].Value)),
        new PatternDetector("EMAIL", 50, Email(), (t, _) => t.Contains('@')),
        new PatternDetector("PHONE", 40, Phone(), (t, traits) => traits.Digits >= 8, m => Validators.Digits(m.Value).Length is >= 8 and <= 15),
        new PatternDetector("IPV4", 30, IPv4(), (t, traits) => traits.Digits >= 4 && t.AsSpan().Count('.') >= 3, m => Validators.IPv4(m.Value)),
        new PatternDetector("IPV6", 30, IPv6(), (t, _) => t.AsSpan().Count(':') >= 2, m => Validators.IPv6(m.Value)),
    }.ToDictionary(d => d.Entity.ToLowerInvariant(), StringComparer.OrdinalIgnoreCase);

    private static readonly HashSet<string> Placeholders = new(StringComparer.OrdinalIgnoreCase)
        { "null", "none", "undefined", "true", "false", "redacted", "changeme", "password", "********", "<secret>", "example" };

    // The cheap tests that spare most values the patterns: digit counts (TextTraits), prefixes, keywords.
    private static bool HasAny(string text, string[] words, bool ignoreCase = true)
    {
        foreach (var word in words)
            if (text.Contains(word, ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal)) return true;
        return false;
    }

    private static bool MayHaveAssignment(string text) => text.Contains('=') || text.Contains(':');

    /// <summary>An assigned value that looks like a real secret: long enough, varied enough, not a placeholder.</summary>
    private static bool IsSecretValue(string value) =>
        value.Length >= 8 && !Placeholders.Contains(value) && !value.All(c => c == '*' || c == 'x' || c == 'X')
        && value[0] is not ('[' or '<' or '$' or '%' or '*') && Validators.Entropy(value) >= 2.5;

    [GeneratedRegex(@"-----BEGIN (?<kind>[A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \k<kind>PRIVATE KEY-----")]
    private static partial Regex PrivateKey();

    [GeneratedRegex(@"(?<![A-Za-z0-9_-])(?<header>eyJ[A-Za-z0-9_-]{5,})\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}(?![A-Za-z0-9_-])")]
    private static partial Regex Jwt();

    [GeneratedRegex(@"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://(?<user>[^:/@\s""']+):(?<password>[^@/\s""']+)@")]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"(?i)(?<![A-Za-z])(?:password|pwd)\s*=\s*(?<value>[^;""'\s]+)")]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])")]
    private static partial Regex AwsAccessKey();

    [GeneratedRegex(@"(?i)(?:aws.{0,20}secret|secret.{0,20}aws|aws_secret_access_key|secret_?access_?key).{0,12}?(?<![A-Za-z0-9/+])(?<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")]
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

    [GeneratedRegex(@"(?i)(?<![A-Za-z0-9])(?:password|passwd|pass|secret|token|api[_-]?key|access[_-]?key|client[_-]?secret|auth[_-]?token)[""']?\s*[:=]\s*[""']?(?<value>[^\s""',;}{]+)")]
    private static partial Regex SecretAssignment();

    [GeneratedRegex(@"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])")]
    private static partial Regex Card();

    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")]
    private static partial Regex Iban();

    [GeneratedRegex(@"(?<![\d-])(?<area>\d{3})[- ](?<group>\d{2})[- ](?<serial>\d{4})(?![\d-])")]
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
