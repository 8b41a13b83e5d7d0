using Portcullis.Defaults.Masking;
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
        // Signed or not: an unsigned token ("alg": "none") ends in its second dot.
        new PatternDetector("JWT", 110, Jwt(), new Gate(Length: 15, Dots: 2),
            PatternDetector.Whole(match => Validators.JwtHeader(match[..match.IndexOf('.')])), literals: Exactly("eyJ", "eyA", "ewo", "ew0", "ewk")),
        new PatternDetector("URL_CREDENTIALS", 105, UrlCredentials(), new Gate(Colons: 2, At: 1), UrlPassword, literals: Exactly("://")),
        new PatternDetector("WEBHOOK_URL", 105, WebhookUrl(), new Gate(Length: 30, Dots: 1, Colons: 1), WebhookSecret,
            literals: AnyCase("hooks.slack.com", "/api/webhooks/", "webhook.office.com")),
        new PatternDetector("CONNECTION_STRING_PASSWORD", 100, ConnectionStringPassword(), new Gate(Length: 5, EqualSigns: 1), AssignedPassword,
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
        new CookieDetector(),
        new PatternDetector("SECRET_ASSIGNMENT", 90, SecretAssignment(), new Gate(Length: 6, EqualSignsOrColons: 1), AssignedSecret,
            literals: AnyCase("pass", "pw", "pin", "secret", "token", "api", "access", "auth", "credential", "private", "bearer", "otp", "cvv", "cvc")),
        new CardDetector(),
        new PatternDetector("IBAN", 60, Iban(), new Gate(Length: 15, Digits: 6, Uppers: 2), PatternDetector.Whole(Validators.Iban),
            ascii: AsciiMatchers.Iban),
        new SsnDetector(),
        new PatternDetector("EMAIL", 50, Email(), new Gate(At: 1, Dots: 1), ascii: AsciiMatchers.Email),
        new PhoneDetector(),
        new PatternDetector("IPV4", 30, IPv4(), new Gate(Digits: 4, Dots: 3), PatternDetector.Whole(Validators.IPv4), ascii: AsciiMatchers.IPv4,
            accept: NotAVersion),
        new PatternDetector("IPV6", 30, IPv6(), new Gate(Colons: 2), PatternDetector.Whole(Validators.IPv6)),
    }.ToDictionary(d => d.Entity.ToLowerInvariant(), StringComparer.OrdinalIgnoreCase);

    private static Literals Exactly(params string[] words) => new(false, words);
    private static Literals AnyCase(params string[] words) => new(true, words);

    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> Placeholders =
        new HashSet<string>(["null", "nil", "none", "undefined", "true", "false", "redacted", "masked", "hidden", "changeme", "password", "********", "<secret>", "example",
          "n/a", "na", "tbd", "todo", "required", "optional", "string", "str", "yes", "no", "ok", "set", "unset", "empty", "missing", "invalid",
          "expired", "valid", "bearer", "basic", "secret", "token"],
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

    /// <summary>
    /// name = value, name: "value": the name must be a secret's by its words (<see cref="SensitiveKeys"/>), and the
    /// value, whatever it looks like, must not be a placeholder. Quotes are not part of the value; an
    /// Authorization value keeps its scheme (Bearer, Basic...) and masks the credential.
    /// </summary>
    // Password=value in a connection string, unless the value is a placeholder (${DB_PASSWORD}).
    private static bool AssignedPassword(ReadOnlySpan<char> match, out int start, out int length) =>
        AssignedValue(match, out start, out length) && IsSecretValue(match.Slice(start, length));

    private static bool AssignedSecret(ReadOnlySpan<char> match, out int start, out int length)
    {
        (start, length) = (0, 0);
        var keyEnd = match.IndexOfAny("\"':= \t");
        if (keyEnd <= 0 || SensitiveKeys.Classify(match[..keyEnd]) is not (KeyKind.Secret or KeyKind.AwsSecret or KeyKind.PrivateKey)) return false;
        start = match.IndexOfAny('=', ':') + 1;
        while (start < match.Length && char.IsWhiteSpace(match[start])) start++;
        var end = match.Length;
        if (start < match.Length && match[start] is '"' or '\'')
        {
            start++;
            if (end > start && match[end - 1] is '"' or '\'') end--;
        }
        var value = match[start..end];
        var space = value.IndexOfAny(' ', '\t');
        if (space > 0 && AuthorizationSchemes.Contains(value[..space]))
        {
            start += space + 1;
            while (start < end && match[start] is ' ' or '\t') start++;
            value = match[start..end];
        }
        length = end - start;
        return IsSecretValue(value);
    }

    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> AuthorizationSchemes =
        new HashSet<string>(["bearer", "basic", "token", "digest", "negotiate", "ntlm", "apikey", "aws4-hmac-sha256"], StringComparer.OrdinalIgnoreCase)
            .GetAlternateLookup<ReadOnlySpan<char>>();

    // The key of a webhook URL is its path after the host: the URL stays readable as "a Slack webhook".
    private static bool WebhookSecret(ReadOnlySpan<char> match, out int start, out int length)
    {
        var host = match.IndexOf("://") + 3;
        start = host + match[host..].IndexOf('/');
        length = match.Length - start;
        return length > 8;
    }

    // 1.2.3.4 after "v", "version", "ver", "build", "release", "firmware", "oid"... is a version or an OID, not an address.
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> VersionWords = new HashSet<string>(
        ["version", "versions", "ver", "v", "release", "build", "firmware", "fw", "rev", "revision", "sdk", "oid", "kernel", "bios", "patch",
         "runtime", "fileversion", "productversion", "appversion", "chrome", "firefox", "safari", "mozilla", "applewebkit"],
        StringComparer.OrdinalIgnoreCase).GetAlternateLookup<ReadOnlySpan<char>>();

    private static bool NotAVersion(ReadOnlySpan<char> text, int start, int length)
    {
        var at = start;
        // "v1.2.3.4", "version: 1.2.3.4", "Version=1.2.3.4", "[Version 10.0.1904.1]", "Chrome/120.0.6099.109"
        while (at > 0 && start - at < 4 && text[at - 1] is ' ' or '\t' or ':' or '=' or '/' or '"' or '\'' or '(' or '#' or '-' or '_') at--;
        var wordEnd = at;
        while (at > 0 && wordEnd - at < 16 && char.IsAsciiLetter(text[at - 1])) at--;
        return wordEnd == at || !VersionWords.Contains(text[at..wordEnd]);
    }

    // The key is the pattern's last 40 characters.
    private static bool AwsSecretValue(ReadOnlySpan<char> match, out int start, out int length)
    {
        (start, length) = (match.Length - 40, 40);
        return Validators.Entropy(match[start..]) >= 4.0;
    }

    /// <summary>An assigned value that looks like a real secret: long enough, varied enough, not a placeholder.</summary>
    private static readonly System.Buffers.SearchValues<char> MaskCharacters = System.Buffers.SearchValues.Create("*xX.-_");

    private static bool IsSecretValue(ReadOnlySpan<char> value) =>
        value.Length >= 3 && !Placeholders.Contains(value) && value.ContainsAnyExcept(MaskCharacters)
        && value[0] is not ('[' or '<' or '$' or '%' or '*' or '{');

    [GeneratedRegex(@"-----BEGIN (?<kind>[A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?-----END \k<kind>PRIVATE KEY-----")]
    private static partial Regex PrivateKey();

    [GeneratedRegex(@"(?<![A-Za-z0-9_-])(?:eyJ|eyA|ewo|ew0|ewk)[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.(?:[A-Za-z0-9_-]{8,})?(?![A-Za-z0-9_-])")]
    private static partial Regex Jwt();

    [GeneratedRegex(@"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://(?:[^:/@\s""']+):(?:[^@/\s""']+)@")]
    private static partial Regex UrlCredentials();

    [GeneratedRegex(@"(?i)(?<![A-Za-z])(?:password|pwd)\s*=\s*(?:[^;""'\s]+)")]
    private static partial Regex ConnectionStringPassword();

    [GeneratedRegex(@"(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Z0-9])")]
    private static partial Regex AwsAccessKey();

    [GeneratedRegex(@"(?i)(?:aws.{0,20}secret|secret.{0,20}aws|secret_?access_?key)[A-Za-z0-9_.-]{0,40}?.{0,12}?(?<![A-Za-z0-9/+])(?:[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")]
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

    // A name with a secret's word in it, then = or :, then a quoted or bare value (an Authorization value with its scheme).
    [GeneratedRegex(@"(?i)(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]{0,40}?(?:pass|pw|pin|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth|credential|bearer|otp|cvv|cvc)[A-Za-z0-9_.-]{0,40}[""']?[ \t]*[:=][ \t]*(?:""[^""\r\n]{1,256}""|'[^'\r\n]{1,256}'|(?:(?:bearer|basic|token|digest|apikey)[ \t]+)?[^\s""',;}{&]+)")]
    private static partial Regex SecretAssignment();



    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ .-]?[A-Z0-9]{4}){2,7}(?:[ .-]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")]
    private static partial Regex Iban();



    // Local part of RFC 5322's dot-atom characters, a domain of labels and a letters-only TLD.
    [GeneratedRegex(@"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9]{1,59})(?![A-Za-z0-9\-])")]
    private static partial Regex Email();

    // Webhook URLs whose path is the credential: Slack, Discord, Microsoft Teams.
    [GeneratedRegex(@"(?i)https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/|(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/|[a-z0-9-]+\.webhook\.office\.com/webhookb2/)[A-Za-z0-9_/@.-]{8,}")]
    private static partial Regex WebhookUrl();


    [GeneratedRegex(@"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d]|\.\d)")]
    private static partial Regex IPv4();

    [GeneratedRegex(@"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")]
    private static partial Regex IPv6();
}
