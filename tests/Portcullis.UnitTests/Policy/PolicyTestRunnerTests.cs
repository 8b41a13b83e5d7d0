using System.Reflection;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>The policy's own test cases (policy.tests), run through the evaluator that decides live requests.</summary>
public class PolicyTestRunnerTests
{
    private static readonly string Root = typeof(PolicyTestRunnerTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;
    private static readonly PolicyTestRunner Runner =
        new(new PolicyEvaluator(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System));

    private const string Yaml = """
        connections:
          demo: { kind: http, upstream: "http://127.0.0.1:1/", default_effect: allow }
          warehouse: { kind: postgres, connection_string: "Host=127.0.0.1;Database=x", default_effect: allow }
        policy:
          default_effect: deny
          rules:
            - id: agents-no-admin
              effect: deny
              reason: Agents may not use admin endpoints.
              match: { connections: [demo], groups: [agents], paths: ["/admin/**"] }
            - id: payments-need-dba
              effect: require_approval
              approvers: [dba]
              match: { connections: [warehouse], sql: { writes: [demo.payments] } }
          tests:
            - name: admin is denied to agents
              principal: { subject: agent-1, groups: [agents] }
              action: { protocol: http, connection: demo, method: GET, path: /admin/config }
              expect: deny
              rule: agents-no-admin
            - name: admin is open to operators
              principal: { subject: ops-1, groups: [operators] }
              action: { protocol: http, connection: demo, method: GET, path: /admin/config }
              expect: allow
            - name: payment writes go to approval
              principal: { subject: agent-1, groups: [agents] }
              action: { protocol: sql, connection: warehouse, sql: "UPDATE demo.payments SET amount = 0" }
              expect: require_approval
              rule: payments-need-dba
        """;

    private static (CompiledPolicy Policy, List<PolicyTestConfig> Tests) Load(string yaml)
    {
        var config = PortcullisConfigLoader.Parse(yaml);
        return (CompiledPolicy.From(config, "v-test"), config.Policy.Read<PolicyConfig>().Tests);
    }

    [Fact]
    public void Passing_cases_pass()
    {
        var (policy, tests) = Load(Yaml);
        var report = Runner.Run(policy, tests);
        Assert.Equal(3, report.Passed);
        Assert.Equal(0, report.Failed);
    }

    [Fact]
    public void A_case_decided_otherwise_fails_naming_the_case_and_what_was_decided()
    {
        var (policy, tests) = Load(Yaml.Replace("groups: [operators]", "groups: [agents]"));
        var report = Runner.Run(policy, tests);
        var failure = Assert.Single(report.Failures);
        Assert.Equal("admin is open to operators", failure.Name);
        Assert.Equal(("allow", "deny", "agents-no-admin"), (failure.Expected, failure.Actual, failure.ActualRule));
        Assert.Contains("'admin is open to operators': expected allow, got deny by rule 'agents-no-admin'", failure.Describe());
    }

    [Fact]
    public void The_right_effect_from_another_rule_fails_when_the_case_names_its_rule()
    {
        var (policy, tests) = Load(Yaml.Replace("rule: payments-need-dba", "rule: some-other-rule"));
        var failure = Assert.Single(Runner.Run(policy, tests).Failures);
        Assert.Equal("payment writes go to approval", failure.Name);
        Assert.Equal("require_approval", failure.Actual);
    }

    [Theory]
    [InlineData("expect: deny\n      rule: agents-no-admin", "expect: refuse\n      rule: agents-no-admin", "expect 'refuse'")]
    [InlineData("protocol: http, connection: demo, method: GET, path: /admin/config }\n      expect: deny",
        "protocol: ftp, connection: demo, method: GET, path: /admin/config }\n      expect: deny", "action.protocol 'ftp'")]
    public void A_case_that_cannot_run_fails_rather_than_being_skipped(string from, string to, string problem)
    {
        var yaml = Yaml.Replace("\r", "").Replace(from, to);
        Assert.NotEqual(Yaml.Replace("\r", ""), yaml);
        var (policy, tests) = Load(yaml);
        var failure = Assert.Single(Runner.Run(policy, tests).Failures);
        Assert.Equal("admin is denied to agents", failure.Name);
        Assert.Contains(problem, failure.Reason);
    }

    [Fact]
    public void A_misspelt_case_field_is_an_error_not_an_empty_case()
    {
        var ex = Assert.ThrowsAny<Exception>(() => Load(Yaml.Replace("expect: allow", "expected: allow")));
        Assert.Contains("expected", ex.Message);
    }

    [Fact]
    public void The_demo_policy_ships_tests_for_its_rules_and_they_pass()
    {
        var config = PortcullisConfigLoader.Load(Path.Combine(Root, "portcullis.yaml"));
        var report = Runner.Run(CompiledPolicy.From(config), config.Policy.Read<PolicyConfig>().Tests);
        Assert.True(report.Cases.Count >= 10, $"{report.Cases.Count} cases");
        Assert.True(report.Failed == 0, string.Join("\n", report.Failures.Select(f => f.Describe())));
        // Every deny and require_approval rule of the demo that concerns HTTP, SQL writes or commands has a case naming it.
        Assert.Subset(report.Cases.Select(c => c.ActualRule).OfType<string>().ToHashSet(),
            new HashSet<string> { "agents-no-admin", "agents-no-bulk-export", "agents-read-only", "sql-no-program", "sql-payments-writes", "exec-no-network" });
    }
}
