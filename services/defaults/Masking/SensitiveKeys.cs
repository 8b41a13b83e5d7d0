namespace Portcullis.Defaults.Masking;

/// <summary>What a key name says about the value it holds.</summary>
public enum KeyKind { None, Secret, AwsSecret, PrivateKey, Cookie, Ssn, Card, Iban, Phone, Email, Version }

/// <summary>
/// Values recognised by the name that holds them (a JSON property, an SQL result column, a header, a
/// <c>key=value</c> in text), whatever the value looks like: a password is a password even when it is
/// "hunter2". A name is read as words, whatever its case and separators (<c>userPassword</c>,
/// <c>AWS_SECRET_ACCESS_KEY_PROD</c>, <c>x-api-key</c>), and judged by its words: a secret word anywhere
/// (<c>pwd</c>, <c>secret</c>, <c>token</c>, <c>api key</c>...), unless the last word says the value is
/// about the secret rather than the secret itself (<c>token_type</c>, <c>password_expires_at</c>).
/// </summary>
public static class SensitiveKeys
{
    private static readonly HashSet<string> SecretWords = new(StringComparer.Ordinal)
    {
        "password", "passwords", "passwd", "pwd", "pass", "pw", "tokens", "passphrase", "passcode", "pin", "secret", "secrets", "token", "credential", "credentials",
        "apikey", "authorization", "auth", "bearer", "otp", "totp", "hmac", "cvv", "cvc", "cvv2", "cvc2",
        "accesskey", "secretkey", "clientsecret", "privatekey", "encryptionkey", "signingkey", "masterkey", "refreshtoken", "accesstoken",
    };

    // Last words that make the value a fact about a secret, not the secret.
    private static readonly HashSet<string> AboutWords = new(StringComparer.Ordinal)
    {
        "id", "ids", "name", "names", "type", "types", "kind", "count", "counts", "length", "len", "size", "enabled", "disabled", "required",
        "expires", "expiry", "expiration", "expired", "at", "on", "in", "ttl", "version", "policy", "hint", "url", "uri", "endpoint", "path",
        "file", "filename", "field", "label", "set", "changed", "updated", "created", "reset", "strength", "min", "max", "format",
        "algorithm", "alg", "scheme", "mode", "prefix", "last4", "lastfour", "masked", "present", "valid", "verified", "status", "country",
        "code", "ref", "limit", "limits", "used", "usage", "budget", "tokens", "header", "location", "source", "provider", "issuer",
        "method", "methods", "started", "start", "end", "ended", "duration", "timeout", "state", "store", "manager", "rotation", "rotated",
    };

    private static readonly HashSet<string> PhoneWords = new(StringComparer.Ordinal)
        { "phone", "telephone", "tel", "mobile", "cellphone", "msisdn", "fax", "phonenumber", "mobilephone", "whatsapp" };

    private static readonly HashSet<string> EmailWords = new(StringComparer.Ordinal) { "email", "mail", "emailaddress", "mailaddress" };

    /// <summary>The kind of value a name holds; <see cref="KeyKind.None"/> for most names.</summary>
    public static KeyKind Classify(ReadOnlySpan<char> name)
    {
        if (name.Length is 0 or > 96) return KeyKind.None;
        Span<Range> ranges = stackalloc Range[16];
        Span<char> lower = stackalloc char[name.Length];
        var count = Words(name, lower, ranges);
        if (count == 0) return KeyKind.None;
        var words = new WordList(lower, ranges[..count]);
        var last = words[count - 1];
        if (words.Has("version") || (count == 1 && last is "ver" or "v" or "build" or "release")) return KeyKind.Version;
        if (AboutLookup.Contains(last) && count > 1) return KeyKind.None;

        if (words.Has("aws") && words.Has("secret")) return KeyKind.AwsSecret;
        if (words.Joined("secret", "access", "key") || words.Joined("secretaccesskey")) return KeyKind.AwsSecret;
        if (words.Adjacent("private", "key") || words.Has("privatekey")) return KeyKind.PrivateKey;
        if (words.Has("cookie") || words.Has("setcookie") || words.Has("session") || words.Has("sessionid") || words.Has("jsessionid")
            || words.Has("phpsessid") || words.Has("sid")) return KeyKind.Cookie;
        foreach (var range in ranges[..count])
            if (SecretLookup.Contains(lower[range])) return KeyKind.Secret;
        if (words.Adjacent("api", "key") || words.Adjacent("access", "key") || words.Adjacent("secret", "key") || words.Adjacent("client", "secret")
            || words.Adjacent("auth", "key") || words.Adjacent("app", "key") || words.Adjacent("master", "key") || words.Adjacent("encryption", "key")
            || words.Adjacent("signing", "key")) return KeyKind.Secret;
        if (words.Has("ssn") || words.Adjacent("social", "security") || words.Has("socialsecurity") || words.Has("socialsecuritynumber"))
            return KeyKind.Ssn;
        if (words.Has("iban")) return KeyKind.Iban;
        if (words.Has("pan") || words.Has("cc") || words.Has("ccn") || words.Has("ccnum") || words.Has("cardnumber") || words.Has("creditcard")
            || words.Adjacent("card", "number") || words.Adjacent("card", "no") || words.Adjacent("card", "num") || words.Adjacent("credit", "card"))
            return KeyKind.Card;
        // Personal data by the last word only: "phone_verified" and "mail_server" hold no phone number or address.
        var beforeLast = count > 1 ? words[count - 2] : [];
        if (PhoneLookup.Contains(last) || (last is "number" or "no" or "num" && PhoneLookup.Contains(beforeLast))
            || (last is "phone" && beforeLast is "cell")) return KeyKind.Phone;
        if (EmailLookup.Contains(last) || (last is "address" && EmailLookup.Contains(beforeLast)) || (last is "mail" && beforeLast is "e"))
            return KeyKind.Email;
        return KeyKind.None;
    }

    /// <summary>
    /// Whether a value held by this name is masked by the name alone (an SQL result column, a JSON property):
    /// the list the masking service masks by and the policy's masked-column flow check refuses computations on.
    /// </summary>
    public static bool MaskedByName(ReadOnlySpan<char> name) => Entity(Classify(name)) is not null;

    /// <summary>The entity a value of this kind is masked as.</summary>
    public static string? Entity(KeyKind kind) => kind switch
    {
        KeyKind.Secret => "SECRET_ASSIGNMENT",
        KeyKind.AwsSecret => "AWS_SECRET_KEY",
        KeyKind.PrivateKey => "PRIVATE_KEY",
        KeyKind.Cookie => "COOKIE",
        KeyKind.Ssn => "SSN",
        KeyKind.Card => "CARD",
        KeyKind.Iban => "IBAN",
        KeyKind.Phone => "PHONE",
        KeyKind.Email => "EMAIL",
        _ => null,
    };

    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> SecretLookup = SecretWords.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> AboutLookup = AboutWords.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> PhoneLookup = PhoneWords.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> EmailLookup = EmailWords.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>
    /// The words of a name, lower-cased into <paramref name="lower"/>: split at anything not a letter or digit and
    /// where a lower-case letter or digit meets an upper-case one (camelCase), or an upper-case run meets a word
    /// (APIKey: API, Key). Non-ASCII letters are folded first (a Cyrillic 'а' in "pаssword" is an 'a').
    /// </summary>
    private static int Words(ReadOnlySpan<char> name, Span<char> lower, Span<Range> ranges)
    {
        if (!System.Text.Ascii.IsValid(name))
        {
            var folded = TextNormaliser.FoldForKey(name);
            if (folded.Length > lower.Length) return 0;
            name = folded;
            lower = lower[..folded.Length];
        }
        var count = 0;
        var start = -1;
        for (var i = 0; i <= name.Length; i++)
        {
            var c = i < name.Length ? name[i] : ' ';
            var alnum = char.IsAsciiLetterOrDigit(c);
            var split = !alnum
                        || (start >= 0 && char.IsAsciiLetterUpper(c) && (char.IsAsciiLetterLower(name[i - 1]) || char.IsAsciiDigit(name[i - 1])))
                        || (start >= 0 && char.IsAsciiLetterUpper(c) && i + 1 < name.Length && char.IsAsciiLetterLower(name[i + 1])
                            && char.IsAsciiLetterUpper(name[i - 1]));
            if (split && start >= 0)
            {
                if (count == ranges.Length) return count;
                ranges[count++] = new Range(start, i);
                start = -1;
            }
            if (alnum)
            {
                if (start < 0) start = i;
                lower[i] = char.ToLowerInvariant(c);
            }
        }
        return count;
    }

    private readonly ref struct WordList(ReadOnlySpan<char> lower, ReadOnlySpan<Range> ranges)
    {
        private readonly ReadOnlySpan<char> _lower = lower;
        private readonly ReadOnlySpan<Range> _ranges = ranges;

        public ReadOnlySpan<char> this[int i] => _lower[_ranges[i]];

        public bool Has(string word)
        {
            foreach (var range in _ranges) if (_lower[range].SequenceEqual(word)) return true;
            return false;
        }

        public bool Adjacent(string first, string second)
        {
            for (var i = 0; i + 1 < _ranges.Length; i++)
                if (_lower[_ranges[i]].SequenceEqual(first) && _lower[_ranges[i + 1]].SequenceEqual(second)) return true;
            return false;
        }

        public bool Joined(params ReadOnlySpan<string> words)
        {
            for (var i = 0; i + words.Length <= _ranges.Length; i++)
            {
                var all = true;
                for (var k = 0; k < words.Length && all; k++) all = _lower[_ranges[i + k]].SequenceEqual(words[k]);
                if (all) return true;
            }
            return false;
        }
    }
}
