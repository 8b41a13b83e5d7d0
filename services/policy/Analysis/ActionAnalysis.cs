using Microsoft.AspNetCore.WebUtilities;
using Portcullis.Contracts;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;

namespace Portcullis.Policy.Analysis;

/// <summary>The parsed form of an action, made once per decision and shared by every rule.</summary>
public sealed class ActionAnalysis
{
    public SqlAnalysis? Sql { get; init; }
    public ShellAnalysis? Shell { get; init; }
    public ILookup<string, string> Query { get; init; } = Array.Empty<string>().ToLookup(x => x);

    public static ActionAnalysis Of(AgentAction action, SqlStatementAnalyzer sql, ShellCommandAnalyzer shell) => action.Protocol switch
    {
        Protocols.Sql => new ActionAnalysis { Sql = action.Sql is { } text ? sql.Analyze(text) : SqlAnalysis.Rejected("no SQL was given") },
        Protocols.Exec => new ActionAnalysis { Shell = shell.Analyze(action.Command ?? "") },
        _ => new ActionAnalysis
        {
            Query = QueryHelpers.ParseQuery(action.Query)
                .SelectMany(pair => pair.Value.Select(value => (pair.Key, Value: value ?? "")))
                .ToLookup(pair => pair.Key, pair => pair.Value, StringComparer.Ordinal),
        },
    };
}
