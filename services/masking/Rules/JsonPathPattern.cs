namespace Portcullis.Masking.Rules;

/// <summary>One step of a JSON location: a property name or an array index.</summary>
public readonly record struct PathItem(string? Name, int Index)
{
    public static PathItem Property(string name) => new(name, -1);
    public static PathItem Element(int index) => new(null, index);
}

/// <summary>
/// A JSON path as rule authors write them: $.a.b, $.a[*].b, $.a[0], $.a.* and $..b (b at any depth).
/// Property names match exactly.
/// </summary>
public sealed class JsonPathPattern
{
    private enum Kind { Name, AnyName, Index, AnyIndex, Descendant }
    private readonly record struct Step(Kind Kind, string? Name = null, int Index = -1);
    private readonly Step[] _steps;

    public JsonPathPattern(string path)
    {
        if (!path.StartsWith('$')) throw new InvalidOperationException($"JSON path '{path}' must start with '$'");
        var steps = new List<Step>();
        var i = 1;
        while (i < path.Length)
        {
            if (path.AsSpan(i).StartsWith(".."))
            {
                var end = NameEnd(path, i + 2);
                steps.Add(new Step(Kind.Descendant, path[(i + 2)..end]));
                i = end;
            }
            else if (path[i] == '.')
            {
                var end = NameEnd(path, i + 1);
                var name = path[(i + 1)..end];
                steps.Add(name == "*" ? new Step(Kind.AnyName) : new Step(Kind.Name, name));
                i = end;
            }
            else if (path[i] == '[')
            {
                var end = path.IndexOf(']', i);
                if (end < 0) throw new InvalidOperationException($"JSON path '{path}' has an unclosed '['");
                var inner = path[(i + 1)..end].Trim('\'', '"');
                steps.Add(inner == "*" ? new Step(Kind.AnyIndex)
                    : int.TryParse(inner, out var index) ? new Step(Kind.Index, Index: index)
                    : new Step(Kind.Name, inner));
                i = end + 1;
            }
            else throw new InvalidOperationException($"JSON path '{path}' is not understood at '{path[i..]}'");
        }
        _steps = [.. steps];
    }

    private static int NameEnd(string path, int start)
    {
        var end = start;
        while (end < path.Length && path[end] is not ('.' or '[')) end++;
        return end;
    }

    public bool IsMatch(IReadOnlyList<PathItem> path) => Match(0, 0, path);

    private bool Match(int step, int at, IReadOnlyList<PathItem> path)
    {
        if (step == _steps.Length) return at == path.Count;
        if (at >= path.Count) return false;
        var s = _steps[step];
        var item = path[at];
        return s.Kind switch
        {
            Kind.Name => item.Name == s.Name && Match(step + 1, at + 1, path),
            Kind.AnyName => item.Name is not null && Match(step + 1, at + 1, path),
            Kind.Index => item.Index == s.Index && Match(step + 1, at + 1, path),
            Kind.AnyIndex => item.Index >= 0 && Match(step + 1, at + 1, path),
            _ => Enumerable.Range(at, path.Count - at).Any(k => path[k].Name == s.Name && Match(step + 1, k + 1, path)),
        };
    }
}
