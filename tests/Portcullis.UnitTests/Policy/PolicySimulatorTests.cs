using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;
using Portcullis.Policy.Simulation;

namespace Portcullis.UnitTests.Policy;

/// <summary>Recorded decisions decided again under a candidate and under the version that made them.</summary>
public class PolicySimulatorTests
{
    private const string Connections = """
        connections:
          demo: { kind: http, upstream: "http://127.0.0.1:1/", default_effect: allow }
        """;

    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static CompiledPolicy Policy(string rules, string version) =>
        CompiledPolicy.From(PortcullisConfigLoader.Parse(Connections + "\npolicy:\n  rules:\n" + rules), version);

    private static readonly CompiledPolicy V1 = Policy("""
            - id: no-admin
              effect: deny
              match: { paths: ["/admin/**"] }
        """, "v1");

    private static PolicyEvaluated Recorded(string path, string version, Decision decision = Decision.Allow, string? rule = null,
        string subject = "agent-1", string connection = "demo") =>
        new(Guid.NewGuid(), "s1", decision, rule, "recorded", [], [], version, new Principal(subject, subject, ["agents"]),
            new AgentAction(Protocols.Http, connection, "GET", path), DateTimeOffset.UnixEpoch);

    [Fact]
    public void Reports_only_the_actions_whose_effect_changes_with_counts_by_rule()
    {
        var candidate = Policy("""
                - id: no-admin
                  effect: deny
                  match: { paths: ["/admin/**"] }
                - id: hold-7
                  effect: deny
                  match: { paths: ["/customers/7"] }
            """, "candidate");
        var run = new PolicySimulator(Evaluator).Start(candidate, new Dictionary<string, CompiledPolicy> { ["v1"] = V1 }, null, null);
        var changes = new[] { Recorded("/customers/7", "v1"), Recorded("/customers/8", "v1"), Recorded("/admin/x", "v1", Decision.Deny, "no-admin") }
            .Select(run.Decide).OfType<SimulatedChange>().ToList();

        var change = Assert.Single(changes);
        Assert.Equal(("GET /customers/7", "allow", null, "deny", "hold-7"),
            (change.Action, change.OldEffect, change.OldRule, change.NewEffect, change.NewRule));
        var summary = run.Summary();
        Assert.Equal((3, 1, 0), (summary.Decided, summary.Changed, summary.UnknownVersions));
        Assert.Equal(1, summary.ChangedByRule["hold-7"]);
        Assert.Equal(1, summary.ChangedByOldRule[PolicySimulator.DefaultRule]);
    }

    [Fact]
    public void The_old_effect_is_decided_again_under_the_version_that_decided_not_taken_from_the_version_in_force()
    {
        var v2 = Policy("""
                - id: no-customers
                  effect: deny
                  match: { paths: ["/customers/**"] }
            """, "v2");
        // Decided by v1 (allowed); the candidate is v2's rules: a change, although v2 would not call it one.
        var run = new PolicySimulator(Evaluator).Start(v2, new Dictionary<string, CompiledPolicy> { ["v1"] = V1, ["v2"] = v2 }, null, null);
        Assert.NotNull(run.Decide(Recorded("/customers/1", "v1")));
        Assert.Null(run.Decide(Recorded("/customers/1", "v2", Decision.Deny, "no-customers")));
    }

    [Fact]
    public void A_version_no_longer_stored_is_compared_by_its_recorded_effect()
    {
        var run = new PolicySimulator(Evaluator).Start(V1, new Dictionary<string, CompiledPolicy>(), null, null);
        var change = run.Decide(Recorded("/customers/1", "v0", Decision.Deny, "gone"));
        Assert.Equal(("deny", "gone", "allow"), (change!.OldEffect, change.OldRule, change.NewEffect));
        Assert.Equal(1, run.Summary().UnknownVersions);
    }

    [Fact]
    public void A_budget_spent_when_the_action_was_decided_stays_spent_for_it_and_others_stay_unspent()
    {
        var budgeted = Policy("""
                - id: reads-budget
                  effect: deny
                  match: { paths: ["/customers/*"] }
                  budget: { window: 1h, requests: 2 }
            """, "v1");
        var versions = new Dictionary<string, CompiledPolicy> { ["v1"] = budgeted };
        // Recorded: a read refused by its spent budget (a budgeted rule is matched only when spent), and one within budget.
        var refused = Recorded("/customers/1", "v1", Decision.Deny, "reads-budget") with { MatchedRules = ["reads-budget"] };
        var within = Recorded("/customers/2", "v1");

        var same = new PolicySimulator(Evaluator).Start(budgeted, versions, null, null);
        Assert.Null(same.Decide(refused));
        Assert.Null(same.Decide(within));

        // Without the budget, the refused read would have run; the other is unchanged.
        var unbudgeted = new PolicySimulator(Evaluator).Start(Policy("""
                - id: no-admin
                  effect: deny
                  match: { paths: ["/admin/**"] }
            """, "candidate"), versions, null, null);
        var change = unbudgeted.Decide(refused);
        Assert.Equal(("deny", "reads-budget", "allow"), (change!.OldEffect, change.OldRule, change.NewEffect));
        Assert.Null(unbudgeted.Decide(within));
    }

    [Fact]
    public void Filters_by_connection_and_subject_before_deciding()
    {
        var strict = Policy("""
                - id: nothing
                  effect: deny
                  match: { paths: ["/**"] }
            """, "candidate");
        var run = new PolicySimulator(Evaluator).Start(strict, new Dictionary<string, CompiledPolicy> { ["v1"] = V1 }, "demo", "agent-2");
        Assert.Null(run.Decide(Recorded("/customers/1", "v1", subject: "agent-1")));
        Assert.NotNull(run.Decide(Recorded("/customers/1", "v1", subject: "agent-2")));
        Assert.Equal(1, run.Summary().Decided);
    }
}
