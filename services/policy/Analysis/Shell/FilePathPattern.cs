using System.Text;

namespace Portcullis.Policy.Analysis.Shell;

/// <summary>
/// A set of file paths written as a glob: '*' (any characters but '/'), '?' (one), '[...]' (a class), '**' (any
/// characters, '/' included), '\x' (x itself). Paths are normalised before they become a pattern ('//', '.',
/// '..', '~'), and two patterns are compared as sets: <see cref="Intersects"/> says whether some path is in
/// both, so <c>/etc/sha?ow</c>, <c>/etc/shado[w]</c> and <c>/etc/{passwd,shadow}</c> all meet <c>/etc/shadow</c>.
/// Matching ignores case: a deny rule must not be dodged by a case-folding file system.
/// </summary>
public sealed class FilePathPattern
{
    /// <summary>The home directory of the login user, kept symbolic: it meets rules written with '~'.</summary>
    public const string Home = "~";

    /// <summary>Where a home directory stands when a rule names an absolute path (Debian's homes: people's, root's, and
    /// the service accounts' under /var/lib, as postgres's /var/lib/postgresql with its .pgpass and .psql_history).</summary>
    private static readonly string[] HomeLocations = ["/root", "/home/*", "/var/lib/*"];

    /// <summary>The same for a path: the user's name is one no rule names ("~"), so /home/~/x meets /home/*/x but not /home/.ssh/x.</summary>
    private static readonly string[] HomeLocationsOfPaths = ["/root", "/home/\\~"];

    private const int MaxAlternatives = 64;

    private readonly Element[] _elements;

    private FilePathPattern(string text, Element[] elements)
    {
        Text = text;
        _elements = elements;
    }

    public string Text { get; }

    /// <summary>The pattern is one path: no wildcard, no alternative.</summary>
    public bool IsLiteral => _elements.All(e => e.Kind == ElementKind.Literal);

    public override string ToString() => Text;

    /// <summary>
    /// The normalised patterns of a word (a pattern in <see cref="ShellToken.Pattern"/> syntax, braces
    /// allowed) given the directories the command may run in.
    /// </summary>
    public static IReadOnlyList<FilePathPattern> OfWord(string word, IReadOnlyCollection<string> workingDirectories)
    {
        var result = new List<FilePathPattern>();
        foreach (var alternative in ExpandBraces(word))
        {
            foreach (var absolute in Absolute(alternative, workingDirectories))
            {
                foreach (var variant in Variants(Normalise(absolute), HomeLocationsOfPaths))
                    result.Add(Parse(variant));
            }
        }
        return result;
    }

    /// <summary>
    /// The same set written so the matcher sees every reading: '/**/' also as '/' (no directory in between), a
    /// leading '/**' also inside the home directory, and the home directory also where Debian puts homes.
    /// </summary>
    private static IEnumerable<string> Variants(string normalised, string[] homes)
    {
        var texts = new List<string> { normalised };
        if (normalised.StartsWith("/**", StringComparison.Ordinal)) texts.Add(Home + normalised);
        if (normalised == Home || normalised.StartsWith(Home + "/", StringComparison.Ordinal))
            texts.AddRange(homes.Select(home => home + normalised[1..]));
        var result = new List<string>();
        foreach (var text in texts)
        {
            var pending = new Queue<string>([text]);
            while (pending.Count > 0 && result.Count < MaxAlternatives)
            {
                var current = pending.Dequeue();
                if (result.Contains(current)) continue;
                result.Add(current);
                var at = current.IndexOf("/**/", StringComparison.Ordinal);
                if (at >= 0) pending.Enqueue(current[..at] + current[(at + 3)..]);
                if (current.StartsWith("~/**/", StringComparison.Ordinal)) pending.Enqueue("~/" + current[5..]);
            }
        }
        return result;
    }

    /// <summary>A pattern of a policy rule: '~/x' stands for the home directory wherever it is, 'dir/**' also for dir.</summary>
    public static IReadOnlyList<FilePathPattern> OfRule(string rule)
    {
        var result = new List<FilePathPattern>();
        foreach (var alternative in ExpandBraces(rule))
        {
            foreach (var variant in Variants(Normalise(alternative.StartsWith("**", StringComparison.Ordinal) ? "/" + alternative : alternative), HomeLocations))
            {
                result.Add(Parse(variant));
                if (variant.EndsWith("/**", StringComparison.Ordinal)) result.Add(Parse(variant[..^3]));
            }
        }
        return result;
    }

    /// <summary>Makes a pattern absolute: ~ and ~/x stay symbolic, ~user becomes any directory, relative ones join each working directory.</summary>
    private static IEnumerable<string> Absolute(string word, IReadOnlyCollection<string> workingDirectories)
    {
        if (word.StartsWith('~'))
        {
            var slash = word.IndexOf('/');
            var user = slash < 0 ? word[1..] : word[1..slash];
            var rest = slash < 0 ? "" : word[slash..];
            // Another user's home (~root, ~postgres) could be anywhere.
            yield return (user.Length == 0 ? Home : "/**") + rest;
            yield break;
        }
        if (word.StartsWith('/') || word.StartsWith("**", StringComparison.Ordinal))
        {
            yield return word.StartsWith("**", StringComparison.Ordinal) ? "/" + word : word;
            yield break;
        }
        foreach (var directory in workingDirectories) yield return directory + "/" + word;
    }

    /// <summary>
    /// Removes empty and '.' segments; '..' goes up, but since the segment before it may be a symbolic link,
    /// whatever stood before becomes any directory ('/**'), which covers both readings.
    /// </summary>
    private static string Normalise(string path)
    {
        var home = path == Home || path.StartsWith(Home + "/", StringComparison.Ordinal);
        var segments = new List<string>();
        var parts = SplitSegments(home ? path[1..] : path);
        var anywhere = false;
        foreach (var part in parts)
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                if (segments.Count == 0 && !home && !anywhere) continue; // /.. is /
                segments.Clear();
                anywhere = true;
                home = false;
                continue;
            }
            segments.Add(part);
        }
        var text = new StringBuilder(home ? Home : anywhere ? "/**" : "");
        foreach (var segment in segments) text.Append('/').Append(segment);
        if (text.Length == 0) text.Append('/');
        var result = text.ToString();
        // The kernel's other names for the same files: /proc/<pid>/root, cwd and fd lead anywhere.
        // So do a thread's: /proc/<pid>/task/<tid>/root.
        if (result.StartsWith("/proc/", StringComparison.OrdinalIgnoreCase) &&
            (segments.Skip(2).FirstOrDefault() is { } link && IsLink(link)
             || segments.Skip(2).FirstOrDefault() is { } task && task.ToLowerInvariant() is "task" or "**" or "*" && segments.Skip(4).FirstOrDefault() is { } threadLink && IsLink(threadLink)))
            return "/**";
        return result;
    }

    private static bool IsLink(string segment) => segment.ToLowerInvariant() is "root" or "cwd" or "fd" or "map_files" or "**" or "*";

    private static List<string> SplitSegments(string path)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '\\' && i + 1 < path.Length) { current.Append(path, i, 2); i++; continue; }
            if (path[i] == '/') { parts.Add(current.ToString()); current.Clear(); continue; }
            current.Append(path[i]);
        }
        parts.Add(current.ToString());
        // "**" inside a segment may stand for several segments; keep it as written.
        return parts;
    }

    /// <summary>a{b,c}d as abd and acd (nested too); beyond a bound, the braces become '**'.</summary>
    private static List<string> ExpandBraces(string word)
    {
        var open = -1;
        for (var i = 0; i < word.Length; i++)
        {
            if (word[i] == '\\') { i++; continue; }
            if (word[i] == '{') { open = i; break; }
        }
        if (open < 0) return [word];
        var depth = 0;
        var close = -1;
        var commas = new List<int>();
        for (var i = open; i < word.Length; i++)
        {
            if (word[i] == '\\') { i++; continue; }
            if (word[i] == '{') depth++;
            else if (word[i] == ',' && depth == 1) commas.Add(i);
            else if (word[i] == '}' && --depth == 0) { close = i; break; }
        }
        if (close < 0) return [word.Replace("{", "\\{")];
        var prefix = word[..open];
        var suffix = word[(close + 1)..];
        var bounds = new List<int> { open };
        bounds.AddRange(commas);
        bounds.Add(close);
        var result = new List<string>();
        for (var k = 0; k + 1 < bounds.Count; k++)
        {
            var choice = word[(bounds[k] + 1)..bounds[k + 1]];
            foreach (var expanded in ExpandBraces(prefix + choice + suffix))
            {
                result.Add(expanded);
                if (result.Count > MaxAlternatives) return [prefix + "**" + suffix.Replace("{", "\\{")];
            }
        }
        return result;
    }

    private static FilePathPattern Parse(string text)
    {
        var elements = new List<Element>();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            switch (c)
            {
                case '\\' when i + 1 < text.Length:
                    elements.Add(Element.Of(text[++i]));
                    break;
                case '*' when i + 1 < text.Length && text[i + 1] == '*':
                    while (i + 1 < text.Length && text[i + 1] == '*') i++;
                    elements.Add(new Element(ElementKind.AnyPath));
                    break;
                case '*':
                    elements.Add(new Element(ElementKind.AnyInSegment));
                    break;
                case '?':
                    elements.Add(new Element(ElementKind.OneInSegment));
                    break;
                case '[' when ClassEnd(text, i) is var end && end > i:
                    elements.Add(Element.Class(text[(i + 1)..end]));
                    i = end;
                    break;
                default:
                    elements.Add(Element.Of(c));
                    break;
            }
        }
        return new FilePathPattern(text, [.. elements]);
    }

    private static int ClassEnd(string text, int open)
    {
        var i = open + 1;
        if (i < text.Length && text[i] is '!' or '^') i++;
        if (i < text.Length && text[i] == ']') i++;
        for (; i < text.Length; i++)
        {
            if (text[i] == '\\') { i++; continue; }
            // [:alpha:], and the equivalence classes and collating symbols [=a=] and [.a.] that bash reads the same way.
            if (text[i] == '[' && i + 1 < text.Length && text[i + 1] is ':' or '=' or '.')
            {
                var close = text.IndexOf(text[i + 1] + "]", i + 2, StringComparison.Ordinal);
                if (close > 0) { i = close + 1; continue; }
            }
            if (text[i] == ']') return i;
        }
        return -1;
    }

    /// <summary>Whether some path belongs to both patterns: a walk over the pairs of positions of the two globs.</summary>
    public bool Intersects(FilePathPattern other)
    {
        var a = _elements;
        var b = other._elements;
        var seen = new HashSet<(int, int)>();
        var work = new Stack<(int, int)>();
        work.Push((0, 0));
        while (work.Count > 0)
        {
            var (i, j) = work.Pop();
            if (!seen.Add((i, j))) continue;
            if (i == a.Length && j == b.Length) return true;
            // A star may match nothing.
            if (i < a.Length && a[i].IsStar) work.Push((i + 1, j));
            if (j < b.Length && b[j].IsStar) work.Push((i, j + 1));
            if (i < a.Length && j < b.Length && Element.Overlap(a[i], b[j]))
                work.Push((a[i].IsStar ? i : i + 1, b[j].IsStar ? j : j + 1));
        }
        return false;
    }

    /// <summary>Whether a literal path is in this pattern.</summary>
    public bool Contains(FilePathPattern literal) => literal.IsLiteral && Intersects(literal);

    private enum ElementKind { Literal, OneInSegment, AnyInSegment, AnyPath, Class }

    private sealed record Element(ElementKind Kind, char Character = '\0', string? Members = null, bool Negated = false)
    {
        public bool IsStar => Kind is ElementKind.AnyInSegment or ElementKind.AnyPath;

        public static Element Of(char c) => new(ElementKind.Literal, char.ToLowerInvariant(c));

        public static Element Class(string inside)
        {
            var negated = inside.Length > 0 && inside[0] is '!' or '^';
            var body = negated ? inside[1..] : inside;
            var members = new StringBuilder();
            for (var i = 0; i < body.Length; i++)
            {
                var c = body[i];
                if (c == '[' && i + 1 < body.Length && body[i + 1] is ':' or '=' or '.')
                {
                    // [:alpha:], [=a=], [.a.] and friends: taken as any character, which covers them.
                    return new Element(ElementKind.OneInSegment);
                }
                if (c == '\\' && i + 1 < body.Length) c = body[++i];
                if (i + 2 < body.Length && body[i + 1] == '-' && body[i + 2] != ']')
                {
                    var last = body[i + 2] == '\\' && i + 3 < body.Length ? body[i + 3] : body[i + 2];
                    for (var ch = c; ch <= last && ch != char.MaxValue; ch++) members.Append(ch);
                    i += body[i + 2] == '\\' ? 3 : 2;
                    continue;
                }
                members.Append(c);
            }
            return new Element(ElementKind.Class, Members: members.ToString(), Negated: negated);
        }

        private bool Accepts(char c)
        {
            return Kind switch
            {
                ElementKind.Literal => Character == char.ToLowerInvariant(c),
                ElementKind.AnyPath => true,
                ElementKind.OneInSegment or ElementKind.AnyInSegment => c != '/',
                _ => c != '/' && (Negated ^ (Members!.Contains(char.ToLowerInvariant(c)) || Members.Contains(char.ToUpperInvariant(c)))),
            };
        }

        public static bool Overlap(Element x, Element y)
        {
            if (x.Kind == ElementKind.Literal) return y.Accepts(x.Character);
            if (y.Kind == ElementKind.Literal) return x.Accepts(y.Character);
            if (x.Kind == ElementKind.Class && !x.Negated) return x.Members!.Any(y.Accepts);
            if (y.Kind == ElementKind.Class && !y.Negated) return y.Members!.Any(x.Accepts);
            return true; // two sets that each leave out at most a few characters always share one
        }
    }
}
