using System.Text;
using System.Text.RegularExpressions;

namespace Portcullis.Policy.Rules;

/// <summary>
/// A path pattern: '**' matches any number of segments, '*' any characters within one segment, '?' one
/// character. Case-insensitive, because many upstreams are, and a deny rule must not be dodged by casing.
/// </summary>
public sealed class PathGlob
{
    private readonly Regex _regex;
    private readonly string _prefix;
    private readonly string _suffix;

    public PathGlob(string pattern)
    {
        Pattern = pattern;
        // The literal text before the first and after the last wildcard rejects most paths without the regex.
        var first = pattern.IndexOfAny(['*', '?']);
        var last = pattern.LastIndexOfAny(['*', '?']);
        _prefix = first < 0 ? pattern : pattern[..first];
        _suffix = last < 0 ? "" : pattern[(last + 1)..];
        if (_prefix.EndsWith('/') && first >= 0 && pattern.AsSpan(first).StartsWith("**"))
            _prefix = _prefix[..^1]; // "/admin/**" matches "/admin" too
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*')
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
        regex.Append('$');
        _regex = new Regex(regex.ToString(), RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled);
    }

    public string Pattern { get; }

    public bool IsMatch(string path) =>
        path.StartsWith(_prefix, StringComparison.OrdinalIgnoreCase) &&
        path.EndsWith(_suffix, StringComparison.OrdinalIgnoreCase) &&
        _regex.IsMatch(path);
}
