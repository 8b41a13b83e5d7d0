using System.Text.RegularExpressions;

namespace Portcullis.Policy.Rules;

/// <summary>A name pattern with '*' (any run of characters) and '?' (one character).</summary>
public sealed class NameGlob(string pattern, bool ignoreCase)
{
    private readonly Regex _regex = new(
        "^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$",
        (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None) | RegexOptions.CultureInvariant | RegexOptions.Compiled);

    public string Pattern => pattern;

    public bool IsMatch(string value) => _regex.IsMatch(value);
}
