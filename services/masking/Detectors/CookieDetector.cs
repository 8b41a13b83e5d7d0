using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Cookie values in header lines of any text (curl -v, logs, saved responses): every value of a
/// <c>Cookie:</c> line, and the value of a <c>Set-Cookie:</c> line (its attributes, Path, Expires, HttpOnly..., stay).
/// </summary>
public sealed partial class CookieDetector : IDetector
{
    public string Entity => "COOKIE";
    public int Priority => 92;
    public Gate Gate => new(Length: 10, Colons: 1, EqualSigns: 1);
    public Func<DigitShape, bool>? Shape => null;
    public Literals? Literals { get; } = new(true, "cookie");

    public void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        foreach (var match in Header().EnumerateMatches(text))
        {
            var set = text[match.Index] is 's' or 'S';
            var at = match.Index + match.Length;
            while (at < text.Length)
            {
                // name=value up to ';', the line's end or a quote (a header quoted in JSON or a log).
                var end = at;
                while (end < text.Length && text[end] is not (';' or '\r' or '\n' or '"' or ',')) end++;
                var pair = text[at..end];
                var equals = pair.IndexOf('=');
                if (equals > 0)
                {
                    var value = pair[(equals + 1)..].Trim();
                    var valueStart = at + equals + 1 + (pair[(equals + 1)..].Length - pair[(equals + 1)..].TrimStart().Length);
                    if (value.Length > 0) findings.Add(new Finding(valueStart, value.Length, Entity, Priority));
                }
                if (set || end >= text.Length || text[end] != ';') break;
                at = end + 1;
                while (at < text.Length && text[at] == ' ') at++;
            }
        }
    }

    [GeneratedRegex(@"(?i)(?<![A-Za-z0-9-])(?:set-)?cookie[""']?[ \t]*:[ \t]*[""']?")]
    private static partial Regex Header();
}
