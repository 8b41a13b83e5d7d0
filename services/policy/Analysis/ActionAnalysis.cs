using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Portcullis.Contracts;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;

namespace Portcullis.Policy.Analysis;

/// <summary>The parsed form of an action, made once per decision and shared by every rule.</summary>
public sealed class ActionAnalysis
{
    private readonly Dictionary<string, SqlAnalysis> _sqlArguments = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ShellAnalysis> _commandArguments = new(StringComparer.Ordinal);
    private SqlStatementAnalyzer? _sqlAnalyzer;
    private ShellCommandAnalyzer? _shellAnalyzer;

    public SqlAnalysis? Sql { get; init; }
    public ShellAnalysis? Shell { get; init; }
    public ILookup<string, string> Query { get; init; } = Array.Empty<string>().ToLookup(x => x);

    /// <summary>An MCP tool call's arguments (an object), or null when it has none or they are not JSON.</summary>
    public JsonElement? Arguments { get; init; }

    /// <summary>
    /// The first argument a rule named as SQL or a command line that could not be analysed, with why: the action is
    /// denied whatever the rules say (deny when unsure).
    /// </summary>
    public string? UnanalysableArgument { get; private set; }

    public static ActionAnalysis Of(AgentAction action, SqlStatementAnalyzer sql, ShellCommandAnalyzer shell) => action.Protocol switch
    {
        Protocols.Sql => new ActionAnalysis { Sql = action.Sql is { } text ? sql.Analyze(text) : SqlAnalysis.Rejected("no SQL was given") },
        Protocols.Exec => new ActionAnalysis { Shell = shell.Analyze(action.Command ?? "") },
        Protocols.Mcp => new ActionAnalysis { Arguments = ParseArguments(action.Arguments), _sqlAnalyzer = sql, _shellAnalyzer = shell },
        _ => new ActionAnalysis
        {
            Query = QueryFields(action.Query),
        },
    };

    /// <summary>
    /// An http query's fields as upstreams may read them, each name in one form (<see cref="QueryName"/>): split on '&amp;',
    /// and also on ';' (which some frameworks take as a separator too), so "?a=1;id=2" gives 'a' both "1;id=2" and "1", and
    /// 'id' "2". A name sent twice keeps every value ("?id=1&amp;id=2"): upstreams read the first, the last or all.
    /// </summary>
    public static ILookup<string, string> QueryFields(string? query)
    {
        var pairs = QueryHelpers.ParseQuery(query).SelectMany(pair => pair.Value.Select(value => (pair.Key, Value: value ?? "")));
        if (query?.Contains(';') == true)
            pairs = pairs.Concat(QueryHelpers.ParseQuery(query.Replace(';', '&'))
                .SelectMany(pair => pair.Value.Select(value => (pair.Key, Value: value ?? ""))));
        return pairs.Distinct().ToLookup(pair => QueryName(pair.Key), pair => pair.Value, StringComparer.Ordinal);
    }

    /// <summary>
    /// A query field's name in the one form rules compare: lower-case (frameworks that bind parameters ignore case),
    /// without a trailing "[]" (PHP's and Rails' array form of the same name), with ' ', '.' and '[' read as '_' as PHP does.
    /// </summary>
    public static string QueryName(string name)
    {
        var text = name.Trim().ToLowerInvariant();
        if (text.EndsWith("[]", StringComparison.Ordinal)) text = text[..^2];
        return text.Replace(' ', '_').Replace('.', '_').Replace('[', '_');
    }

    /// <summary>The SQL analysis of an MCP call's argument <paramref name="name"/> (made once, on first use).</summary>
    public SqlAnalysis SqlArgument(string name)
    {
        if (_sqlArguments.TryGetValue(name, out var analysed)) return analysed;
        var analysis = StringArgument(name) is { } text && _sqlAnalyzer is not null
            ? _sqlAnalyzer.Analyze(text)
            : SqlAnalysis.Rejected($"the argument '{name}' is missing or not text");
        if (analysis.Error is { } error)
            UnanalysableArgument ??= $"The SQL in argument '{name}' cannot be analysed: {error}.";
        return _sqlArguments[name] = analysis;
    }

    /// <summary>The MCP call's arguments a rule analysed as SQL, and their text (those the analysis could read).</summary>
    public IEnumerable<string> AnalysedSqlArguments =>
        _sqlArguments.Where(a => a.Value.Error is null).Select(a => StringArgument(a.Key)).OfType<string>();

    /// <summary>The shell analysis of an MCP call's argument <paramref name="name"/> (made once, on first use).</summary>
    public ShellAnalysis? CommandArgument(string name)
    {
        if (_commandArguments.TryGetValue(name, out var analysed)) return analysed;
        if (StringArgument(name) is not { } text || _shellAnalyzer is null)
        {
            UnanalysableArgument ??= $"The argument '{name}' that holds a command line is missing or not text.";
            return null;
        }
        var analysis = _shellAnalyzer.Analyze(text);
        if (analysis.Unanalysable is not null || analysis.Commands.Count == 0)
            UnanalysableArgument ??= $"The command in argument '{name}' cannot be analysed with confidence: {analysis.Unanalysable ?? "it runs no program"}.";
        return _commandArguments[name] = analysis;
    }

    private string? StringArgument(string name) =>
        Arguments is { ValueKind: JsonValueKind.Object } arguments && arguments.TryGetProperty(name, out var value)
                                                            && value.ValueKind == JsonValueKind.String
            ? value.GetString() : null;

    private static JsonElement? ParseArguments(string? json)
    {
        if (string.IsNullOrEmpty(json)) return null;
        try
        {
            return JsonDocument.Parse(json).RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
