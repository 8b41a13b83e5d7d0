using System.Text;
using System.Text.RegularExpressions;

namespace Portcullis.Policy.Rules;

/// <summary>
/// A path pattern: '**' matches any number of segments, '*' any characters within one segment, '?' one
/// character. Case-insensitive, because many upstreams are, and a deny rule must not be dodged by casing.
/// </summary>
public sealed class PathGlob
{
    // After what the pattern names: a format suffix or path parameters on its last segment ("/x.json", "/x.tar.gz",
    // "/x;jsessionid=1", "/x%2Ejson"), then anything beneath it ("/x/y"). Rails, Spring's suffix pattern match and
    // content negotiation serve "/x.json" as "/x", servlet containers drop ";..." parameters.
    private const string SuffixAndBeneath = @"(?:(?:\.|;|%2e)[^/]*)?(?:/.*)?";

    private readonly Regex _regex;
    private readonly string _prefix;
    private readonly string _suffix;

    /// <param name="pattern">The glob, starting with '/'.</param>
    /// <param name="andBeneath">
    /// Also match the named path with a format suffix or path parameters on its last segment, and every path beneath it:
    /// what a deny or approval rule means ("deny /admin" is "deny /admin, /admin.json and /admin/**"). An allow rule
    /// vouches for what it names only, so it leaves this off.
    /// </param>
    public PathGlob(string pattern, bool andBeneath = false)
    {
        Pattern = pattern;
        // Canonical paths have no trailing slash: "/admin/" names "/admin", and "/" names the root (so, beneath it, all).
        var glob = andBeneath ? pattern.TrimEnd('/') : pattern;
        // The literal text before the first and after the last wildcard rejects most paths without the regex.
        var first = glob.IndexOfAny(['*', '?']);
        var last = glob.LastIndexOfAny(['*', '?']);
        _prefix = first < 0 ? glob : glob[..first];
        _suffix = last < 0 || andBeneath ? "" : glob[(last + 1)..];
        if (_prefix.EndsWith('/') && first >= 0 && glob.AsSpan(first).StartsWith("**"))
            _prefix = _prefix[..^1]; // "/admin/**" matches "/admin" too
        var regex = new StringBuilder("^");
        for (var i = 0; i < glob.Length; i++)
        {
            var c = glob[i];
            if (c == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
            {
                // "/**" also matches the bare prefix: "/admin/**" matches "/admin".
                if (regex[^1] == '/') { regex.Length -= 1; regex.Append("(?:/.*)?"); }
                else regex.Append(".*");
                i++;
            }
            else if (c == '*') regex.Append("[^/]*");
            else if (c == '?') regex.Append("[^/]");
            else regex.Append(Regex.Escape(c.ToString()));
        }
        if (andBeneath) regex.Append(SuffixAndBeneath);
        regex.Append('$');
        _regex = new Regex(regex.ToString(), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);
    }

    public string Pattern { get; }

    public bool IsMatch(string path) =>
        path.StartsWith(_prefix, StringComparison.OrdinalIgnoreCase) &&
        path.EndsWith(_suffix, StringComparison.OrdinalIgnoreCase) &&
        _regex.IsMatch(path);
}
