using System.Text;
using System.Text.Json;
using Microsoft.Net.Http.Headers;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;

namespace Portcullis.Gateway.Connectors.Http;

/// <summary>
/// The one form of an http connection's request target that the policy judges and the upstream receives.
/// Upstreams read paths in many ways (percent-decoding once or twice, removing dot segments, dropping
/// ';' parameters, ignoring a trailing slash or a trailing dot), so the gateway reduces the path to a single
/// spelling and forwards exactly that spelling, byte for byte. What cannot be reduced to one spelling is refused.
/// </summary>
public sealed record CanonicalTarget(string Path, string? Query)
{
    public const string ItemKey = "portcullis.canonical-target";

    /// <summary>Query or form fields that frameworks read as "treat this request as another method".</summary>
    private static readonly string[] MethodOverrideFields = ["_method", "__method", "x-http-method-override", "_httpmethod"];

    /// <summary>
    /// The canonical form of a raw path (still percent-encoded as sent): percent-encoded unreserved characters
    /// decoded (so "%65xport" is "export"), other encodings kept in upper-case hex, a trailing slash removed.
    /// Null with a reason when the path could be read two ways: encoded '/' or '\', double encoding ("%2565"),
    /// control or non-ASCII bytes, empty, "." or ".." segments (encoded or not), ';' parameters, or a segment
    /// that ends in '.' or a space (which some servers trim).
    /// </summary>
    public static string? CanonicalPath(string raw, out string? problem)
    {
        problem = null;
        if (raw.Length == 0 || raw[0] != '/') { problem = "The path must start with '/'."; return null; }
        var path = new StringBuilder(raw.Length);
        for (var i = 0; i < raw.Length; i++)
        {
            var c = raw[i];
            if (c == '%')
            {
                if (i + 2 >= raw.Length || !Uri.IsHexDigit(raw[i + 1]) || !Uri.IsHexDigit(raw[i + 2]))
                    return Refuse(out problem, "The path has a '%' that is not a percent-encoding.");
                var b = (char)Convert.ToByte(raw.Substring(i + 1, 2), 16);
                i += 2;
                if (IsUnreserved(b)) { path.Append(b); continue; }
                if (b is '/' or '\\')
                    return Refuse(out problem, "The path has an encoded '/' or '\\'; send the plain path.");
                if (b < 0x20 || b == 0x7F)
                    return Refuse(out problem, "The path has an encoded control character.");
                if (b == '%' && i + 2 < raw.Length && Uri.IsHexDigit(raw[i + 1]) && Uri.IsHexDigit(raw[i + 2]))
                    return Refuse(out problem, "The path is percent-encoded twice ('%25' before hex digits); send it encoded once.");
                path.Append('%').Append(((int)b).ToString("X2"));
                continue;
            }
            if (c is '\\') return Refuse(out problem, "The path has a '\\'; send '/' separators only.");
            if (c is ';') return Refuse(out problem, "The path has ';' parameters, which upstreams read differently; send the plain path.");
            if (c < 0x21 || c >= 0x7F) return Refuse(out problem, "The path has a control, space or non-ASCII character; percent-encode it.");
            path.Append(c);
        }

        var text = path.ToString();
        if (NonAsciiProblem(text) is { } nonAscii) return Refuse(out problem, nonAscii);
        if (text.Length > 1 && text.EndsWith('/')) text = text[..^1]; // "/customers/export/" is "/customers/export"
        if (text.Length > 1)
        {
            foreach (var segment in text[1..].Split('/'))
            {
                if (segment.Length == 0) return Refuse(out problem, "The path has an empty segment ('//').");
                if (segment is "." or "..") return Refuse(out problem, "The path has a '.' or '..' segment; send the resolved path.");
                if (segment.EndsWith('.') || segment.EndsWith("%20", StringComparison.Ordinal))
                    return Refuse(out problem, "A path segment ends in '.' or a space, which some servers trim; send the plain path.");
            }
        }
        return text;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Percent-encoded non-ASCII stays encoded and is forwarded as sent, so it must have one reading: valid, shortest-form
    /// UTF-8 (an overlong "%C0%AE" is '.' to lenient decoders), nothing that Unicode compatibility normalisation turns
    /// into other characters (fullwidth "%EF%BD%81" is 'a', "%EF%BC%8E" is '.', a no-break space is a space), and no
    /// letter whose upper or lower case is ASCII ("%C4%B1", dotless i, is 'I' to an upstream that routes ignoring case).
    /// </summary>
    private static string? NonAsciiProblem(string path)
    {
        if (!path.Contains('%')) return null;
        var bytes = new List<byte>(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '%') { bytes.Add(Convert.ToByte(path.Substring(i + 1, 2), 16)); i += 2; }
            else bytes.Add((byte)path[i]);
        }
        string decoded;
        try
        {
            decoded = StrictUtf8.GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            return "The path has percent-encoded bytes that are not valid UTF-8 (overlong or broken sequences), which servers decode differently.";
        }
        foreach (var rune in decoded.EnumerateRunes())
        {
            if (rune.Value < 0x80) continue;
            if (ReadAsAscii.Any(range => rune.Value >= range.First && rune.Value <= range.Last))
                return $"The path has U+{rune.Value:X4}, which Unicode normalisation or case mapping turns into ASCII (as fullwidth 'a' is 'a' " +
                       "and dotless i is 'I') for some servers; send the plain character.";
        }
        return null;
    }

    /// <summary>
    /// The code points whose compatibility decomposition (NFKC) or case mapping holds ASCII, by Unicode block: spaces,
    /// superscripts and ordinals, the Turkish i's and long s, letterlike symbols (Kelvin sign), number forms, enclosed
    /// alphanumerics, ligatures, small, vertical and fullwidth forms, mathematical alphanumerics and tag characters.
    /// The gateway runs without ICU (invariant globalization), so it cannot normalise and compare; it refuses these instead.
    /// </summary>
    private static readonly (int First, int Last)[] ReadAsAscii =
    [
        (0x00A0, 0x00A0), (0x00AA, 0x00AA), (0x00B2, 0x00B3), (0x00B9, 0x00BA), (0x00BC, 0x00BE), (0x0130, 0x0131), (0x017F, 0x017F),
        (0x02B0, 0x02B8), (0x037E, 0x037E), (0x1D2C, 0x1D6A), (0x1FEF, 0x1FEF), (0x2000, 0x200A), (0x2024, 0x2026), (0x202F, 0x202F),
        (0x205F, 0x205F), (0x2070, 0x209C), (0x2100, 0x218B), (0x2460, 0x24FF), (0x3000, 0x3000), (0xFB00, 0xFB06), (0xFE10, 0xFE19),
        (0xFE30, 0xFE6B), (0xFF01, 0xFF5E), (0x1D400, 0x1D7FF), (0x1F100, 0x1F1FF), (0xE0000, 0xE007F),
    ];

    /// <summary>
    /// The canonical target of an agent's request to /http/{connection}/..., read from the raw request line
    /// (Kestrel's decoded Path has already lost what the agent actually sent), or null with a reason.
    /// </summary>
    public static CanonicalTarget? Of(HttpContext context, string connection, out string? problem)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
        if (!raw.StartsWith('/'))
        {
            problem = "Send the request target as a path (origin form), not an absolute URL.";
            return null;
        }
        if (raw.Contains('#'))
        {
            problem = "The request target has a fragment ('#'), which is no part of a request; send it without.";
            return null;
        }
        var queryStart = raw.IndexOf('?');
        var rawPath = queryStart < 0 ? raw : raw[..queryStart];
        var rawQuery = queryStart < 0 ? null : raw[queryStart..];
        if (CanonicalPath(rawPath, out problem) is not { } full) return null;

        // The route matched the decoded path; the canonical one must still name the same connection.
        var prefix = $"/http/{connection}";
        if (!full.StartsWith(prefix, StringComparison.Ordinal) || (full.Length > prefix.Length && full[prefix.Length] != '/'))
        {
            problem = "Name the connection in plain characters: /http/{connection}/path.";
            return null;
        }
        var path = full.Length > prefix.Length ? full[prefix.Length..] : "/";
        // Some frameworks also split a query on ';', so the fields are read both ways.
        if (rawQuery is { Length: > 1 } && MethodOverride(QueryHelpers.ParseQuery(rawQuery.Replace(';', '&')).Keys) is { } field)
        {
            problem = $"The query names another method ('{field}'); send the request with the method you mean.";
            return null;
        }
        return new CanonicalTarget(path, rawQuery is { Length: > 1 } ? rawQuery : null);
    }

    /// <summary>
    /// Checks a form or JSON body for a method-override field: Rails, Laravel and Symfony read "_method" from a form,
    /// and Laravel from a JSON object's top level too.
    /// </summary>
    public static async Task<string?> BodyOverrideAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.HasFormContentType) return await FormOverrideAsync(request, cancellationToken);
        if (!IsJson(request.ContentType)) return null;
        request.EnableBuffering();
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, default, cancellationToken);
            return document.RootElement.ValueKind == JsonValueKind.Object
                   && MethodOverride(document.RootElement.EnumerateObject().Select(p => p.Name)) is { } field
                ? $"The JSON body names another method ('{field}'); send the request with the method you mean."
                : null;
        }
        catch (JsonException)
        {
            return null; // not JSON: no upstream reads fields from it either
        }
        finally
        {
            request.Body.Position = 0;
        }
    }

    private static async Task<string?> FormOverrideAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        request.EnableBuffering();
        try
        {
            var form = await request.ReadFormAsync(cancellationToken);
            return MethodOverride(form.Keys) is { } field
                ? $"The form body names another method ('{field}'); send the request with the method you mean."
                : null;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or BadHttpRequestException)
        {
            return "The form body could not be read; send a well-formed form.";
        }
        finally
        {
            request.Body.Position = 0;
        }
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type)
        && (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || type.MediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    /// <summary>The address the upstream receives: exactly the canonical path and the query as the agent sent it.</summary>
    public Uri ForwardUri(string destinationPrefix) =>
        new(destinationPrefix.TrimEnd('/') + Path + Query,
            new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });

    /// <summary>The first method-override field, as sent (and as PHP reads it, when that differs), or null.</summary>
    private static string? MethodOverride(IEnumerable<string> fields) =>
        fields.FirstOrDefault(f => MethodOverrideFields.Contains(AsPhpReadsIt(f), StringComparer.OrdinalIgnoreCase)) is { } field
            ? AsPhpReadsIt(field) == field ? field : $"{field}', which PHP reads as '{AsPhpReadsIt(field)}"
            : null;

    /// <summary>
    /// A field name as PHP hands it to Laravel and Symfony: leading spaces dropped, ' ', '.' and '[' read as '_'
    /// (so ".method" and "[method" are "_method" there).
    /// </summary>
    private static string AsPhpReadsIt(string field) => field.Trim().Replace(' ', '_').Replace('.', '_').Replace('[', '_');

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    private static string? Refuse(out string? problem, string reason)
    {
        problem = reason;
        return null;
    }
}
