using System.Text.RegularExpressions;

namespace Portcullis.Defaults.Logging;

/// <summary>
/// Takes credentials out of text bound for a log: values of parameters named like a credential in query
/// strings, forms and connection strings (<c>?access_token=…</c>, <c>&amp;client_secret=…</c>, <c>Password=…</c>),
/// the same names as JSON members (<c>"password": "…"</c>), bearer tokens, and anything shaped like a JWT,
/// wherever it sits (a path segment included). Every log line of every service passes through here, so a
/// request line of the hosting layer, YARP's forwarding line or an HttpClient's line cannot carry a token.
/// </summary>
public static partial class CredentialRedaction
{
    public const string Redacted = "[redacted]";

    /// <summary>Parameter names that are credentials by themselves.</summary>
    private static readonly HashSet<string> CredentialNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "code", "key", "sig", "pwd", "pass", "otp", "sid", "jwt", "auth", "assertion", "nonce", "ticket", "hash",
    };

    /// <summary>Parts of names that make a parameter a credential: access_token, x-api-key, client_secret, X-Amz-Signature...</summary>
    private static readonly string[] CredentialParts =
    [
        "token", "secret", "pass", "pwd", "apikey", "api_key", "api-key", "credential", "signature", "session",
        "private", "authorization", "cookie", "assertion",
    ];

    public static bool IsCredentialName(string name)
    {
        var decoded = name;
        if (name.Contains('%'))
        {
            try { decoded = Uri.UnescapeDataString(name); }
            catch (UriFormatException) { return true; } // unreadable: treated as one
        }
        decoded = decoded.Trim().TrimStart('$', '@', '[').TrimEnd(']');
        if (decoded.Length == 0) return false;
        if (CredentialNames.Contains(decoded)) return true;
        var lower = decoded.ToLowerInvariant();
        return CredentialParts.Any(part => lower.Contains(part, StringComparison.Ordinal))
               || lower.EndsWith("key", StringComparison.Ordinal)
               || lower.EndsWith("_code", StringComparison.Ordinal) || lower.EndsWith("-code", StringComparison.Ordinal)
               || lower.EndsWith("_sig", StringComparison.Ordinal);
    }

    public static string Redact(string text)
    {
        if (string.IsNullOrEmpty(text)) return text;
        text = Jwt().Replace(text, Redacted);
        text = Bearer().Replace(text, m => m.Groups["scheme"].Value + " " + Redacted);
        text = Pair().Replace(text, m => IsCredentialName(m.Groups["name"].Value)
            ? m.Groups["name"].Value + "=" + Redacted
            : m.Value);
        text = JsonMember().Replace(text, m => IsCredentialName(m.Groups["name"].Value)
            ? $"\"{m.Groups["name"].Value}\"{m.Groups["colon"].Value}\"{Redacted}\""
            : m.Value);
        return text;
    }

    /// <summary>Three base64url parts, the first two JSON objects ("eyJ"): a JWT, signed or not.</summary>
    [GeneratedRegex(@"eyJ[A-Za-z0-9_\-]{2,}(?:%2[Ee]|\.)[A-Za-z0-9_\-]{2,}(?:(?:%2[Ee]|\.)[A-Za-z0-9_\-]*)?", RegexOptions.CultureInvariant)]
    private static partial Regex Jwt();

    [GeneratedRegex(@"(?<scheme>\b(?:Bearer|Basic|Token|Digest))\s+[A-Za-z0-9_\-\.~\+/=%]{8,}", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex Bearer();

    /// <summary>name=value in a query string, a form or a connection string; the value runs to the next separator.</summary>
    [GeneratedRegex(@"(?<=^|[?&;\s""'(,{])(?<name>[A-Za-z0-9_.\-%\[\]$@]{1,128})=(?<value>[^&;\s#""',)}]*)", RegexOptions.CultureInvariant)]
    private static partial Regex Pair();

    [GeneratedRegex(@"""(?<name>[A-Za-z0-9_.\-$@]{1,128})""(?<colon>\s*:\s*)""(?<value>(?:[^""\\]|\\.)*)""", RegexOptions.CultureInvariant)]
    private static partial Regex JsonMember();
}
