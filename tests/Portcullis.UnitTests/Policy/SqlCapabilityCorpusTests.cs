using System.Reflection;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// The SQL capability corpus (tests/Portcullis.EndToEndTests/Corpus/sql-capabilities.txt) under the demo policy
/// (portcullis.yaml), as an agent on the warehouse connection. The end-to-end suite runs the same corpus through the
/// gateway against the real database.
/// </summary>
public class SqlCapabilityCorpusTests
{
    private static readonly string Root = typeof(SqlCapabilityCorpusTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;
    private static readonly CompiledPolicy DemoPolicy = CompiledPolicy.From(PortcullisConfigLoader.Load(Path.Combine(Root, "portcullis.yaml")));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    public static TheoryData<string, string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var (group, decision, rule, sql) in SqlCorpus.Load(Path.Combine(Root, "tests", "Portcullis.EndToEndTests", "Corpus", "sql-capabilities.txt")))
            data.Add(group, sql, decision, rule);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Demo_policy(string group, string sql, string decision, string rule)
    {
        var (evaluated, analysis) = Evaluator.Evaluate(DemoPolicy, new RequestReceived(Guid.NewGuid(), "corpus",
            new Principal("agent-7", "agent-7", ["agents"]), new AgentAction(Protocols.Sql, "warehouse", Sql: sql), DateTimeOffset.UtcNow));
        var expected = decision == "allow" ? Decision.Allow : Decision.Deny;
        Assert.True(expected == evaluated.Decision && rule == (evaluated.RuleId ?? "-"),
            $"[{group}] expected {decision} by {rule}, got {evaluated.Decision} by {evaluated.RuleId ?? "-"} ({evaluated.Reason}); " +
            $"kinds: [{string.Join(", ", analysis.Sql?.Kinds ?? new HashSet<string>())}]; tables: [{string.Join(", ", analysis.Sql?.Tables ?? [])}]");
    }

    [Fact]
    public void The_corpus_covers_every_class_with_at_least_220_statements()
    {
        var cases = SqlCorpus.Load(Path.Combine(Root, "tests", "Portcullis.EndToEndTests", "Corpus", "sql-capabilities.txt"));
        Assert.True(cases.Count >= 220, $"{cases.Count} statements");
        var groups = cases.Select(c => c.Group).Distinct().ToList();
        foreach (var wanted in new[] { "dynamic SQL", "catalogue reads", "name shadowing", "quoting and comments",
                     "function and operator tricks", "multi-statement strings", "large objects", "settings", "benign" })
            Assert.Contains(groups, g => g.StartsWith(wanted, StringComparison.Ordinal));
        Assert.True(cases.Count(c => c.Decision == "allow") >= 60, "benign statements");
    }
}

/// <summary>Lines of "decision rule :: SQL" under "## class" headings; '⏎' is a line break.</summary>
public static class SqlCorpus
{
    public static IReadOnlyList<(string Group, string Decision, string Rule, string Sql)> Load(string path)
    {
        var cases = new List<(string, string, string, string)>();
        var group = "";
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal)) { group = line[3..].Split(':')[0].Trim(); continue; }
            if (line.StartsWith('#') || line.Trim().Length == 0) continue;
            var separator = line.IndexOf("::", StringComparison.Ordinal);
            if (separator < 0) throw new InvalidOperationException($"no '::' in \"{line}\"");
            var head = line[..separator].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (head.Length != 2 || head[0] is not ("allow" or "deny")) throw new InvalidOperationException($"bad head in \"{line}\"");
            cases.Add((group, head[0], head[1], line[(separator + 2)..].TrimStart(' ').Replace('⏎', '\n')));
        }
        return cases;
    }
}
