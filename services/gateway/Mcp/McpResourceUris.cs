using System.Text.RegularExpressions;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// The resource URIs the gateway passes to an upstream MCP server: only those whose meaning the policy's judgement
/// cannot miss. A URI with dot segments ("file:///srv/demo/../../etc/passwd"), encoded dots, slashes, backslashes or
/// percent signs (which an upstream may decode into a traversal), a backslash, a control character, or a
/// <c>file:</c> URI naming another host is refused with the reason, never judged on one form and read on another.
/// </summary>
public static partial class McpResourceUris
{
    public const int MaxLength = 2048;

    /// <summary>Why <paramref name="uri"/> is refused, or null.</summary>
    public static string? Problem(string uri)
    {
        if (uri.Length == 0) return "it is empty.";
        if (uri.Length > MaxLength) return $"it is longer than {MaxLength} characters.";
        if (uri.Any(char.IsControl)) return "it holds a control character.";
        if (!Scheme().IsMatch(uri)) return "it is not an absolute URI (scheme:...).";
        if (uri.Contains('\\')) return "it holds a backslash.";
        if (EncodedSeparator().IsMatch(uri)) return "it holds a percent-encoded '.', '/', '\\' or '%'; send the plain form.";
        var end = uri.IndexOfAny(['?', '#']);
        var path = end < 0 ? uri : uri[..end];
        if (path.Split('/').Any(segment => segment is "." or ".."))
            return "it holds a '.' or '..' segment; send the path it stands for.";
        if (uri.StartsWith("file:", StringComparison.OrdinalIgnoreCase)
            && Uri.TryCreate(uri, UriKind.Absolute, out var file) && file.Host is not ("" or "localhost"))
            return "a file: URI may not name another host.";
        return null;
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9+.-]*:")]
    private static partial Regex Scheme();

    [GeneratedRegex("%(2[eEfF]|5[cC]|25)")]
    private static partial Regex EncodedSeparator();
}
