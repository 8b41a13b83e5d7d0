using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// The decision corpus: SQL and command lines, allowed and blocked, obfuscated and plain, each with the
/// decision and the rule expected under Corpus/corpus-policy.yaml. One line of a case file is one case.
/// </summary>
public partial class DecisionCorpusTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Policy", "Corpus");
    private static readonly CompiledPolicy Policy =
        CompiledPolicy.From(PortcullisConfigLoader.Load(Path.Combine(Folder, "corpus-policy.yaml")));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    public static TheoryData<string, string, string, string> SqlCases() => Load("sql-cases.txt");
    public static TheoryData<string, string, string, string> ShellCases() => Load("shell-cases.txt");
    public static TheoryData<string, string, string, string> ShellExecutionCases() => Load("shell-execution-cases.txt");

    [Theory]
    [MemberData(nameof(SqlCases))]
    public void Sql(string sql, string decision, string rule, string groups) =>
        Check(new AgentAction(Protocols.Sql, "warehouse", Sql: sql), decision, rule, groups);

    [Theory]
    [MemberData(nameof(ShellCases))]
    public void Shell(string command, string decision, string rule, string groups) =>
        Check(new AgentAction(Protocols.Exec, "ops-host", Command: command), decision, rule, groups);

    /// <summary>What the shell will run, not what a lexer understood: expansions, control characters, environment,
    /// flags that run programs, path spellings, globs and braces, quoting, and ordinary commands that stay allowed.</summary>
    [Theory]
    [MemberData(nameof(ShellExecutionCases))]
    public void Shell_execution(string command, string decision, string rule, string groups) =>
        Check(new AgentAction(Protocols.Exec, "ops-host", Command: command), decision, rule, groups);

    [Fact]
    public void The_shell_execution_corpus_has_at_least_150_cases_in_every_class()
    {
        var cases = ShellExecutionCases().Select(row => (string)row[1]).ToList();
        Assert.True(cases.Count >= 150, $"{cases.Count} cases");
        Assert.True(cases.Count(d => d == "allow") >= 30, "allowed cases");
    }

    [Fact]
    public void The_corpus_has_at_least_200_cases_of_both_outcomes()
    {
        var all = SqlCases().Concat(ShellCases()).Select(row => (string)row[1]).ToList();
        Assert.True(all.Count >= 200, $"{all.Count} cases");
        Assert.True(all.Count(d => d == "allow") >= 40, "allowed cases");
        Assert.True(all.Count(d => d != "allow") >= 150, "blocked cases");
    }

    private static void Check(AgentAction action, string decision, string rule, string groups)
    {
        var principal = new Principal("agent-7", "agent-7", groups.Split(',', StringSplitOptions.RemoveEmptyEntries));
        var (evaluated, analysis) = Evaluator.Evaluate(Policy,
            new RequestReceived(Guid.NewGuid(), "corpus", principal, action, DateTimeOffset.UtcNow));

        var seen = $"{evaluated.Decision} by {evaluated.RuleId ?? "-"} ({evaluated.Reason}); matched: " +
                   $"[{string.Join(", ", evaluated.MatchedRules)}]; programs: [{string.Join(", ", analysis.Shell?.Programs ?? [])}]; " +
                   $"kinds: [{string.Join(", ", analysis.Sql?.Kinds ?? new HashSet<string>())}]; tables: [{string.Join(", ", analysis.Sql?.Tables ?? [])}]";
        Assert.True(Expected(decision) == evaluated.Decision && rule == (evaluated.RuleId ?? "-"),
            $"expected {decision} by {rule}, got {seen}");
    }

    private static Decision Expected(string decision) => decision switch
    {
        "allow" => Decision.Allow,
        "deny" => Decision.Deny,
        "require_approval" => Decision.RequireApproval,
        _ => throw new InvalidOperationException($"unknown decision '{decision}' in the corpus"),
    };

    [System.Text.RegularExpressions.GeneratedRegex("⟨U\\+([0-9A-F]{4,5})⟩")]
    private static partial System.Text.RegularExpressions.Regex CodePoints();

    /// <summary>Lines of "decision rule [groups=a,b] :: text"; '#' starts a comment line; ⏎ is a newline, ⟨U+000D⟩ any character.</summary>
    private static TheoryData<string, string, string, string> Load(string file)
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var line in File.ReadLines(Path.Combine(Folder, file)))
        {
            if (line.StartsWith('#') || line.Trim().Length == 0) continue;
            var separator = line.IndexOf("::", StringComparison.Ordinal);
            if (separator < 0) throw new InvalidOperationException($"{file}: no '::' in \"{line}\"");
            var head = line[..separator].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var text = CodePoints().Replace(line[(separator + 2)..].TrimStart(' ').Replace('⏎', '\n'),
                m => char.ConvertFromUtf32(Convert.ToInt32(m.Groups[1].Value, 16)));
            var groups = head.FirstOrDefault(h => h.StartsWith("groups=", StringComparison.Ordinal))?["groups=".Length..] ?? "agents";
            data.Add(text, head[0], head[1], groups);
        }
        return data;
    }
}
