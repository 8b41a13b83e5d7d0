using System.Text.Json;
using System.Text.RegularExpressions;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis;

namespace Portcullis.Policy.Rules;

/// <summary>
/// A rule's <c>mcp:</c> conditions, compiled: the tool (a glob over the upstream name or the listed
/// <c>connection.tool</c> name) and conditions on the call's arguments. For a deny or approval rule an argument
/// condition holds when any value at its path matches; for an allow rule only when every value does (and there is one),
/// so an allow rule cannot be ridden by one allowed path beside a forbidden one.
/// </summary>
public sealed class McpConditions(McpMatchConfig config, bool all)
{
    private readonly NameGlob[] _tools = [.. config.Tools.Select(t => new NameGlob(t, ignoreCase: false))];
    // A deny or approval rule's resource glob covers the URI with a format suffix and everything beneath it, as its
    // HTTP paths do (PathGlob's andBeneath); an allow rule vouches for what it names only.
    private readonly PathGlob[] _resources = [.. config.Resources.Select(r => new PathGlob(r, andBeneath: !all))];
    private readonly NameGlob[] _prompts = [.. config.Prompts.Select(p => new NameGlob(p, ignoreCase: false))];
    private readonly ArgumentCondition[] _arguments = [.. config.Arguments.Select(a => new ArgumentCondition(a, all))];

    public string? SqlArgument => config.SqlArgument;
    public string? CommandArgument => config.CommandArgument;

    private bool NamesNothing => _tools.Length == 0 && _resources.Length == 0 && _prompts.Length == 0;

    public bool MatchesTool(string connection, string tool) => NamesNothing || Named(_tools, connection, tool);

    /// <summary>
    /// Whether a glob names the upstream name or the listed <c>connection.name</c>. For an allow rule a glob with the
    /// separator in it names listed names only: an upstream on another connection that calls its tool "files.read_x"
    /// is not vouched for by <c>files.read_*</c> (a deny or approval rule may catch it either way).
    /// </summary>
    private bool Named(NameGlob[] globs, string connection, string name)
    {
        var listed = $"{connection}{McpConnection.ToolSeparator}{name}";
        foreach (var glob in globs)
        {
            if (glob.IsMatch(listed)) return true;
            if (glob.IsMatch(name) && !(all && glob.Pattern.Contains(McpConnection.ToolSeparator))) return true;
        }
        return false;
    }

    /// <summary>Whether the action is a tool call, resource read or prompt get this rule names (or it names none).</summary>
    private bool MatchesTarget(AgentAction action) => action switch
    {
        { Resource: { } uri } => NamesNothing || _resources.Any(glob => glob.IsMatch(CanonicalUri(uri))),
        { Prompt: { } prompt } => NamesNothing || Named(_prompts, action.Connection, prompt),
        { Tool: { } tool } => MatchesTool(action.Connection, tool),
        _ => false,
    };

    public bool Matches(AgentAction action, ActionAnalysis analysis)
    {
        if (action.Protocol != Protocols.Mcp || !MatchesTarget(action)) return false;
        foreach (var condition in _arguments)
            if (!condition.Holds(analysis.Arguments)) return false;
        return true;
    }

    /// <summary>What is wrong with a rule's <c>mcp:</c> section, for the start-up check.</summary>
    public static IEnumerable<string> Problems(McpMatchConfig config, string where)
    {
        foreach (var (argument, index) in config.Arguments.Select((a, i) => (a, i)))
        {
            var at = $"{where}.mcp.arguments[{index}]";
            if (!ArgumentPath.TryParse(argument.Path, out _)) yield return $"{at}: path '{argument.Path}' is not a JSON path such as $.path or $.items[*].name";
            var tests = new[] { argument.EqualTo, argument.Glob, argument.Regex }.Count(t => t is not null);
            if (tests != 1) yield return $"{at}: give exactly one of equals, glob, regex";
            if (argument.Regex is { } regex && !IsRegex(regex)) yield return $"{at}: regex '{regex}' does not compile";
        }
    }

    private static bool IsRegex(string pattern)
    {
        try { _ = new Regex(pattern); return true; }
        catch (ArgumentException) { return false; }
    }

    private sealed class ArgumentCondition
    {
        private readonly McpArgumentConditionConfig _config;
        private readonly bool _all;
        private readonly ArgumentPath _path;
        private readonly PathGlob? _glob;
        private readonly Regex? _regex;

        public ArgumentCondition(McpArgumentConditionConfig config, bool all)
        {
            _config = config;
            _all = all;
            // A bad path or regex is reported by Problems and stops the policy from loading; until then it selects nothing.
            _path = ArgumentPath.TryParse(config.Path, out var path) ? path! : ArgumentPath.Nothing;
            // Where a match restricts (a deny or approval rule's glob, an allow rule's negated one), the glob covers its
            // paths with a format suffix and beneath, as HTTP paths do; where a match vouches (an allow rule's glob, the
            // allowed folder a deny rule negates), it names exactly what it says: "/srv/shared.evil" is not in "/srv/shared/**".
            _glob = config.Glob is { } glob ? new PathGlob(glob, andBeneath: all == config.Not) : null;
            _regex = config.Regex is { } regex && IsRegex(regex)
                ? new Regex(regex, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)) : null;
        }

        public bool Holds(JsonElement? arguments)
        {
            var values = arguments is { } root ? _path.Select(root).Select(Text).ToList() : [];
            // An allow rule vouches for every value (negated: for none matching); deny and approval need one.
            bool Any() => values.Any(IsMatch);
            if (_config.Not) return _all ? values.Count == 0 || !Any() : !Any();
            return _all ? values.Count > 0 && values.All(IsMatch) : Any();
        }

        private bool IsMatch(string value)
        {
            if (_config.EqualTo is { } expected) return string.Equals(value, expected, StringComparison.Ordinal);
            if (_glob is not null) return _glob.IsMatch(CanonicalPath(value));
            if (_regex is null) return false;
            try
            {
                return _regex.IsMatch(value);
            }
            catch (RegexMatchTimeoutException)
            {
                // Unsure: a deny or approval rule applies, an allow rule does not vouch.
                return !_all;
            }
        }

        private static string Text(JsonElement value) => value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
    }

    /// <summary>
    /// A resource URI as policy judges it: percent-encoded dots decoded and the path's dot segments resolved, so
    /// "file:///srv/demo/%2e%2e/secret" is judged as "file:///srv/secret". The gateway refuses such URIs before they
    /// get here; this keeps a rule honest whoever sends the action.
    /// </summary>
    public static string CanonicalUri(string uri)
    {
        var text = Regex.Replace(uri, "%2[eE]", ".");
        var authority = text.IndexOf("://", StringComparison.Ordinal);
        if (authority < 0) return text;
        var pathStart = text.IndexOf('/', authority + 3);
        if (pathStart < 0) return text;
        var pathEnd = text.IndexOfAny(['?', '#'], pathStart);
        if (pathEnd < 0) pathEnd = text.Length;
        return text[..pathStart] + CanonicalPath(text[pathStart..pathEnd]) + text[pathEnd..];
    }

    /// <summary>
    /// A path-like value with its dot segments resolved and repeated slashes folded, so "/srv/demo/../../etc/passwd"
    /// is judged as "/etc/passwd" (what the upstream will open). Values that are not absolute paths are left as they are.
    /// </summary>
    public static string CanonicalPath(string value)
    {
        if (!value.StartsWith('/') && !value.StartsWith('~')) return value;
        var segments = new List<string>();
        var parts = value.Split('/');
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (i == 0 && part.Length > 0) { segments.Add(part); continue; } // "~"
            if (part is "" or ".") continue;
            if (part == "..") { if (segments.Count > (value.StartsWith('~') ? 1 : 0)) segments.RemoveAt(segments.Count - 1); continue; }
            segments.Add(part);
        }
        return value.StartsWith('~') ? string.Join('/', segments) : "/" + string.Join('/', segments);
    }
}

/// <summary>
/// A JSON path over a tool call's arguments: <c>$</c>, then <c>.name</c>, <c>['name']</c>, <c>[0]</c>, <c>[*]</c>,
/// <c>.*</c>, or <c>..name</c> (any depth).
/// </summary>
public sealed class ArgumentPath
{
    private abstract record Step;
    private sealed record Member(string Name) : Step;
    private sealed record Index(int Value) : Step;
    private sealed record Wildcard : Step;
    private sealed record Descendant(string Name) : Step;

    private readonly IReadOnlyList<Step> _steps;

    private ArgumentPath(IReadOnlyList<Step> steps) => _steps = steps;

    /// <summary>A path that selects nothing.</summary>
    public static readonly ArgumentPath Nothing = new([new Member("\0")]);

    public static bool TryParse(string text, out ArgumentPath? path)
    {
        path = null;
        if (!text.StartsWith('$')) return false;
        var steps = new List<Step>();
        var i = 1;
        while (i < text.Length)
        {
            if (text.AsSpan(i).StartsWith("..", StringComparison.Ordinal))
            {
                var name = Name(text, i + 2, out i);
                if (name.Length == 0) return false;
                steps.Add(new Descendant(name));
            }
            else if (text[i] == '.')
            {
                if (i + 1 < text.Length && text[i + 1] == '*') { steps.Add(new Wildcard()); i += 2; continue; }
                var name = Name(text, i + 1, out i);
                if (name.Length == 0) return false;
                steps.Add(new Member(name));
            }
            else if (text[i] == '[')
            {
                var end = text.IndexOf(']', i);
                if (end < 0) return false;
                var inner = text[(i + 1)..end].Trim();
                i = end + 1;
                if (inner == "*") steps.Add(new Wildcard());
                else if (int.TryParse(inner, out var index) && index >= 0) steps.Add(new Index(index));
                else if (inner.Length >= 2 && inner[0] is '\'' or '"' && inner[^1] == inner[0]) steps.Add(new Member(inner[1..^1]));
                else return false;
            }
            else return false;
        }
        path = new ArgumentPath(steps);
        return true;
    }

    private static string Name(string text, int start, out int end)
    {
        end = start;
        while (end < text.Length && text[end] is not ('.' or '[')) end++;
        return text[start..end];
    }

    public IEnumerable<JsonElement> Select(JsonElement root)
    {
        IEnumerable<JsonElement> current = [root];
        foreach (var step in _steps) current = current.SelectMany(element => Apply(step, element));
        return current;
    }

    private static IEnumerable<JsonElement> Apply(Step step, JsonElement element)
    {
        switch (step)
        {
            case Member member when element.ValueKind == JsonValueKind.Object:
                if (element.TryGetProperty(member.Name, out var value)) yield return value;
                break;
            case Index index when element.ValueKind == JsonValueKind.Array:
                if (index.Value < element.GetArrayLength()) yield return element[index.Value];
                break;
            case Wildcard when element.ValueKind == JsonValueKind.Array:
                foreach (var item in element.EnumerateArray()) yield return item;
                break;
            case Wildcard when element.ValueKind == JsonValueKind.Object:
                foreach (var property in element.EnumerateObject()) yield return property.Value;
                break;
            case Descendant descendant:
                foreach (var found in Descendants(element, descendant.Name)) yield return found;
                break;
        }
    }

    private static IEnumerable<JsonElement> Descendants(JsonElement element, string name)
    {
        if (element.ValueKind == JsonValueKind.Object)
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name == name) yield return property.Value;
                foreach (var found in Descendants(property.Value, name)) yield return found;
            }
        else if (element.ValueKind == JsonValueKind.Array)
            foreach (var item in element.EnumerateArray())
            foreach (var found in Descendants(item, name)) yield return found;
    }
}
