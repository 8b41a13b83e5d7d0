using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Portcullis.Gateway.Connectors.Http;

/// <summary>
/// What the gateway checks and rewrites in an upstream's answer before masking: framing that masking cannot read
/// through (a compression or transfer coding, a partial body, a protocol switch), a body whose label hides that it is
/// JSON, and URLs the upstream hands the agent (Location, Content-Location, Refresh), which must lead back through
/// the connection and nowhere else.
/// </summary>
public static partial class UpstreamAnswer
{
    /// <summary>Why the answer cannot be masked as it stands, or null.</summary>
    public static string? Problem(HttpResponseMessage upstream)
    {
        var status = (int)upstream.StatusCode;
        if (status < 200)
            return $"The upstream answered {status} (an informational or protocol switch), which would bypass masking; it is withheld.";
        if (upstream.StatusCode == HttpStatusCode.PartialContent || upstream.Content.Headers.NonValidated.Contains("Content-Range")
            || upstream.Headers.NonValidated.Contains("Content-Range"))
            return "The upstream answered with part of a body (206, Content-Range); a slice can cut a value in two, so it is withheld.";
        if (upstream.Content.Headers.NonValidated.Contains("Content-Encoding") || upstream.Headers.NonValidated.Contains("Content-Encoding"))
            return "The upstream answer is compressed (Content-Encoding) and cannot be masked, so it is withheld.";
        if (upstream.Headers.NonValidated.TryGetValues("Transfer-Encoding", out var codings)
            && codings.SelectMany(c => c.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                .Any(c => !c.Equals("chunked", StringComparison.OrdinalIgnoreCase)))
            return "The upstream answer has a transfer coding other than chunked and cannot be masked, so it is withheld.";
        return null;
    }

    /// <summary>
    /// The type to mask a body as: a body labelled as text (or not labelled) that is a whole JSON document is masked as
    /// JSON, so the JSON path rules apply to it as they would under its true label.
    /// </summary>
    public static string MaskAs(string contentType, byte[] body)
    {
        var media = contentType.Split(';', 2)[0].Trim();
        if (!(media.Length == 0 || media.StartsWith("text/", StringComparison.OrdinalIgnoreCase))) return contentType;
        return IsJsonDocument(body) ? "application/json" + (contentType.Contains(';') ? contentType[contentType.IndexOf(';')..] : "") : contentType;
    }

    private static bool IsJsonDocument(byte[] body)
    {
        var span = body.AsSpan();
        if (span.StartsWith("\uFEFF"u8)) span = span[3..];
        var first = span.TrimStart(" \t\r\n"u8);
        if (first.IsEmpty || first[0] is not ((byte)'{' or (byte)'[')) return false;
        try
        {
            var reader = new Utf8JsonReader(first, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            while (reader.Read()) { }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// A URL the upstream sends the agent to (Location, Content-Location), as a path through the gateway's connection
    /// (<c>/http/{connection}/...</c>), or null to drop it: it leads to another host, port or scheme, outside the
    /// connection's base path, or to a scheme that is not http(s) (file:, gopher:, javascript:...). Credentials in the URL
    /// (user:password@) never survive.
    /// </summary>
    public static string? Rewrite(string value, Uri requested, Uri upstreamBase, string gatewayPrefix)
    {
        if (value.Any(c => c < 0x20 || c == 0x7F)) return null;
        if (!Uri.TryCreate(requested, value.Trim(), out var target)) return null;
        if (target.Scheme is not ("http" or "https")) return null;
        if (!string.Equals(target.Scheme, upstreamBase.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(target.IdnHost, upstreamBase.IdnHost, StringComparison.OrdinalIgnoreCase) || target.Port != upstreamBase.Port)
            return null;
        var basePath = upstreamBase.AbsolutePath.EndsWith('/') ? upstreamBase.AbsolutePath : upstreamBase.AbsolutePath + "/";
        var path = target.AbsolutePath;
        if (!(path + "/").StartsWith(basePath, StringComparison.Ordinal)) return null;
        var rest = path.Length >= basePath.Length ? path[basePath.Length..] : "";
        return gatewayPrefix.TrimEnd('/') + "/" + rest + target.Query + target.Fragment;
    }

    /// <summary>A Refresh header ("5; url=..."): kept with its URL rewritten as <see cref="Rewrite"/> does, kept as it is without a URL, or null.</summary>
    public static string? RewriteRefresh(string value, Uri requested, Uri upstreamBase, string gatewayPrefix)
    {
        var match = RefreshPattern().Match(value);
        if (!match.Success) return null;
        if (!match.Groups["url"].Success || match.Groups["url"].Value.Trim().Length == 0)
            return match.Groups["rest"].Value.Trim().Length == 0 ? match.Groups["delay"].Value : null;
        var url = match.Groups["url"].Value.Trim().Trim('"', '\'');
        return Rewrite(url, requested, upstreamBase, gatewayPrefix) is { } rewritten ? $"{match.Groups["delay"].Value}; url={rewritten}" : null;
    }

    [GeneratedRegex(@"^\s*(?<delay>\d+(\.\d*)?)\s*(?<rest>[;,]?\s*((url\s*=\s*)?(?<url>.*))?)$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex RefreshPattern();
}

/// <summary>
/// The credential values the gateway sent the upstream for one request: an answer that carries one back (as sent,
/// percent-encoded or in base64), in its body or its headers, is withheld whatever masking would make of it.
/// </summary>
public static class UpstreamCredentials
{
    public const string ItemKey = "portcullis.upstream-credentials";

    /// <summary>The shortest value looked for: shorter ones would match by chance.</summary>
    private const int MinimumLength = 6;

    public static bool Echoed(IEnumerable<string> credentials, byte[] body, IEnumerable<string> headerValues)
    {
        var headers = headerValues.ToArray();
        foreach (var credential in credentials.Where(c => c.Length >= MinimumLength))
        {
            foreach (var form in Forms(credential))
            {
                if (body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(form)) >= 0) return true;
                if (headers.Any(h => h.Contains(form, StringComparison.Ordinal))) return true;
            }
        }
        return false;
    }

    private static IEnumerable<string> Forms(string credential)
    {
        yield return credential;
        var escaped = Uri.EscapeDataString(credential);
        if (escaped != credential) yield return escaped;
        var json = JsonSerializer.Serialize(credential)[1..^1];
        if (json != credential) yield return json;
        // Base64 of the value, at each of the three alignments it can have inside a longer encoded text (a value's
        // encoding inside "user:key" shifts with the length before it), without the edge characters that depend on neighbours.
        var bytes = Encoding.UTF8.GetBytes(credential);
        for (var shift = 0; shift < 3; shift++)
        {
            var padded = new byte[shift + bytes.Length];
            bytes.CopyTo(padded, shift);
            var encoded = Convert.ToBase64String(padded);
            var start = shift == 0 ? 0 : (shift * 4 + 2) / 3 + 1;
            var end = encoded.TrimEnd('=').Length - 1;
            if (end - start >= 8) yield return encoded[start..end];
        }
    }
}
