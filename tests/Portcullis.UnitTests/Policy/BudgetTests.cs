using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Budgets;
using Portcullis.Policy.Budgets.Ledger;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>Budgets on rules: their YAML, the sliding window's counting, and how the evaluator applies a spent one.</summary>
public class BudgetTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private const string Connections = """
        connections:
          demo: { kind: http, upstream: "http://127.0.0.1:1/", default_effect: allow }
          warehouse: { kind: postgres, connection_string: "Host=127.0.0.1;Database=x", default_effect: allow }
        """;

    // The rules as written at the start of their lines, placed under policy.rules (a budget's key lands on line 9).
    private static string File(string rules) =>
        Connections + "\npolicy:\n  rules:\n" + string.Join("\n", rules.Split('\n').Select(line => "    " + line));

    // The same with an MCP server among the connections.
    private static string WithMcpServer(string rules) =>
        File(rules).Replace("\npolicy:", "\n  files: { kind: mcp, command: node, args: [server.js], default_effect: allow }\npolicy:");

    private const string CustomerBudget = """
            - id: customer-records-budget
              effect: require_approval
              approvers: [approvers]
              reason: Reading more customer records needs an approver.
              match: { connections: [demo], methods: [GET], paths: ["/customers/*"] }
              budget: { window: 1h, per: identity, requests: 3 }
        """;

    private static Budget BudgetOf(string budgetYaml)
    {
        var policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(File($$"""
                - id: b
                  effect: deny
                  match: { connections: [warehouse] }
                  budget: {{budgetYaml}}
            """)));
        return policy.Rules.Single().Budget!;
    }

    private static BudgetCharge Request(DateTimeOffset at, long rows = 0, long bytes = 0, Dictionary<string, long>? masked = null) =>
        new(at, 1, rows, bytes, masked ?? []);

    private static RequestReceived Get(string path, string subject = "agent-1", string session = "s1") =>
        new(Guid.NewGuid(), session, new Principal(subject, subject, ["agents"]),
            new AgentAction(Protocols.Http, "demo", "GET", path, null, null, null, null), Now);

    [Fact]
    public void Old_charges_are_pruned_after_the_retention_or_the_longest_window_in_force_whichever_is_longer()
    {
        var week = TimeSpan.FromDays(7);
        var hourly = CompiledPolicy.From(PortcullisConfigLoader.Parse(File(CustomerBudget)));
        Assert.Equal(Now - week, BudgetLedgerPruning.Horizon(Now, week, hourly));
        var monthly = CompiledPolicy.From(PortcullisConfigLoader.Parse(File(CustomerBudget + """

                - id: monthly
                  effect: deny
                  match: { connections: [warehouse] }
                  budget: { window: 720h, rows: 100000 }
            """)));
        Assert.Equal(Now - TimeSpan.FromHours(720), BudgetLedgerPruning.Horizon(Now, week, monthly));
        var none = CompiledPolicy.From(PortcullisConfigLoader.Parse(Connections));
        Assert.Equal(Now - week, BudgetLedgerPruning.Horizon(Now, week, none));
    }

    [Fact]
    public void Is_within_budget_until_the_limit_is_reached()
    {
        var budget = BudgetOf("{ window: 1h, requests: 3 }");
        Assert.False(budget.Standing([Request(Now.AddMinutes(-3)), Request(Now.AddMinutes(-2))], Now).Spent);
        var spent = budget.Standing([Request(Now.AddMinutes(-3)), Request(Now.AddMinutes(-2)), Request(Now.AddMinutes(-1))], Now);
        Assert.True(spent.Spent);
        Assert.Equal(3, spent.Used.Single().Used);
    }

    [Fact]
    public void Charges_older_than_the_window_no_longer_count()
    {
        var budget = BudgetOf("{ window: 1h, requests: 2 }");
        var standing = budget.Standing([Request(Now.AddMinutes(-61)), Request(Now.AddMinutes(-90)), Request(Now.AddMinutes(-5))], Now);
        Assert.False(standing.Spent);
        Assert.Equal(1, standing.Used.Single().Used);
    }

    [Fact]
    public void The_ledger_counts_a_charge_at_its_buckets_end_so_it_leaves_the_window_at_most_a_sixtieth_of_it_late()
    {
        var hourly = BudgetOf("{ window: 1h, requests: 1 }");
        Assert.Equal(TimeSpan.FromMinutes(1), hourly.BucketWidth);
        Assert.Equal(new DateTimeOffset(2026, 12, 3, 10, 1, 0, TimeSpan.Zero), hourly.BucketOf(Now));
        Assert.Equal(new DateTimeOffset(2026, 12, 3, 10, 1, 0, TimeSpan.Zero), hourly.BucketOf(Now.AddSeconds(59.9)));
        // Charged at 10:00:30, counted at 10:01: spent until 11:01, half a minute past the exact time, never before it.
        var charged = hourly.BucketOf(Now.AddSeconds(30));
        Assert.True(hourly.Standing([Request(charged)], Now.AddHours(1).AddSeconds(45)).Spent);
        Assert.False(hourly.Standing([Request(charged)], Now.AddHours(1).AddMinutes(1)).Spent);
        Assert.Equal(Now.AddHours(1).AddMinutes(1), hourly.Standing([Request(charged)], Now.AddMinutes(5)).FreesAt);
        // The shortest windows count by the second.
        Assert.Equal(TimeSpan.FromSeconds(1), BudgetOf("{ window: 30s, requests: 1 }").BucketWidth);
    }

    [Fact]
    public void A_spent_budget_frees_up_when_enough_of_the_oldest_charges_leave_the_window()
    {
        var budget = BudgetOf("{ window: 1h, requests: 3 }");
        // Four in the window against three: the two oldest must leave before a request fits again.
        var charges = new[] { Request(Now.AddMinutes(-50)), Request(Now.AddMinutes(-40)), Request(Now.AddMinutes(-30)), Request(Now.AddMinutes(-20)) };
        var standing = budget.Standing(charges.Reverse(), Now);
        Assert.True(standing.Spent);
        Assert.Equal(Now.AddMinutes(-40).AddHours(1), standing.FreesAt);
    }

    [Fact]
    public void Rows_bytes_and_masked_entities_are_limited_each_and_the_latest_to_free_up_decides()
    {
        var budget = BudgetOf("{ window: 10m, per: session, rows: 100, bytes: 5000, masked: { EMAIL: 6 } }");
        Assert.True(budget.PerSession);
        var charges = new[]
        {
            Request(Now.AddMinutes(-9), rows: 60, bytes: 100, masked: new() { ["EMAIL"] = 4 }),
            Request(Now.AddMinutes(-5), rows: 50, bytes: 100, masked: new() { ["EMAIL"] = 3, ["PHONE"] = 50 }),
            Request(Now.AddMinutes(-1), rows: 1, bytes: 100, masked: new() { ["EMAIL"] = 3 }),
        };
        var standing = budget.Standing(charges, Now);
        Assert.True(standing.Spent);
        Assert.Equal([111L, 300L, 10L], standing.Used.Select(u => u.Used));
        // Rows are under again once the first leaves (at -9m + 10m); emails only once the second has left too.
        Assert.Equal(Now.AddMinutes(5), standing.FreesAt);
        var reason = standing.Describe("Too many.");
        Assert.Contains("111 of 100 rows", reason);
        Assert.Contains("10 of 6 masked EMAIL values", reason);
        Assert.DoesNotContain("bytes", reason);
        Assert.Contains("per session in the last 10m", reason);
        Assert.Contains("frees up at 2026-12-03T10:05:00Z", reason);
    }

    [Fact]
    public void A_budgeted_rule_does_not_apply_within_budget_and_applies_naming_the_budget_once_spent()
    {
        var policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(File(CustomerBudget)));
        var within = Evaluator.Evaluate(policy, Get("/customers/1"), BudgetUsage.Of(new Dictionary<string, IReadOnlyList<BudgetCharge>>
        {
            ["customer-records-budget"] = [Request(Now.AddMinutes(-2)), Request(Now.AddMinutes(-1))],
        }, Now)).Evaluated;
        Assert.Equal(Decision.Allow, within.Decision);
        Assert.Empty(within.MatchedRules);

        var spent = Evaluator.Evaluate(policy, Get("/customers/4"), BudgetUsage.Of(new Dictionary<string, IReadOnlyList<BudgetCharge>>
        {
            ["customer-records-budget"] = [Request(Now.AddMinutes(-30)), Request(Now.AddMinutes(-2)), Request(Now.AddMinutes(-1))],
        }, Now)).Evaluated;
        Assert.Equal(Decision.RequireApproval, spent.Decision);
        Assert.Equal("customer-records-budget", spent.RuleId);
        Assert.Equal(["approvers"], spent.ApproverGroups);
        Assert.StartsWith("Budget of rule 'customer-records-budget' is spent: 3 of 3 requests per identity in the last 1h; it frees up at 2026-12-03T10:30:00Z.", spent.Reason);
        Assert.EndsWith("Reading more customer records needs an approver.", spent.Reason);

        // Without a ledger (dry runs, simulation) budgets are unspent; other paths never draw on this one.
        Assert.Equal(Decision.Allow, Evaluator.Evaluate(policy, Get("/customers/4")).Evaluated.Decision);
        var orders = Get("/orders/1");
        var decided = Evaluator.Evaluate(policy, orders);
        Assert.Empty(BudgetDraws.Of(policy, orders, decided));
        var customers = Get("/customers/9");
        Assert.Equal([new BudgetDraw("customer-records-budget", "identity:agent-1")],
            BudgetDraws.Of(policy, customers, Evaluator.Evaluate(policy, customers)));
    }

    [Fact]
    public void Identity_budgets_are_kept_per_subject_and_session_budgets_per_session()
    {
        var identity = BudgetOf("{ window: 1h, requests: 1 }");
        var session = BudgetOf("{ window: 1h, per: session, requests: 1 }");
        Assert.Equal("identity:agent-1", identity.ScopeOf(Get("/customers/1", session: "a")));
        Assert.Equal(identity.ScopeOf(Get("/x", session: "a")), identity.ScopeOf(Get("/x", session: "b")));
        Assert.NotEqual(identity.ScopeOf(Get("/x", subject: "agent-1")), identity.ScopeOf(Get("/x", subject: "agent-2")));
        Assert.Equal("session:a", session.ScopeOf(Get("/x", session: "a")));
        Assert.NotEqual(session.ScopeOf(Get("/x", session: "a")), session.ScopeOf(Get("/x", session: "b")));
    }

    [Theory]
    [InlineData("{ window: 1x, requests: 3 }", "budget.window '1x' is not a duration")]
    [InlineData("{ window: 1h, per: tenant, requests: 3 }", "budget.per 'tenant' is not one of identity, session")]
    [InlineData("{ window: 1h }", "budget limits nothing")]
    [InlineData("{ window: 1h, rows: 0 }", "budget.rows must be positive")]
    [InlineData("{ window: 1h, masked: { email: 5 } }", "budget.masked entity 'email' is not an entity type")]
    [InlineData("{ window: 1h, requests: lots }", "")]
    [InlineData("{ window: 1h, requets: 3 }", "requets")]
    [InlineData("1h", "budget must be a mapping")]
    public void A_bad_budget_is_refused_with_its_line_and_column(string budget, string problem)
    {
        var yaml = File($$"""
                - id: b
                  effect: deny
                  match: { connections: [demo] }
                  budget: {{budget}}
            """);
        var error = Assert.Throws<InvalidOperationException>(() => CompiledPolicy.From(PortcullisConfigLoader.Parse(yaml)));
        // The budget sits on line 9 of the file.
        Assert.Contains("portcullis.yaml: line 9, column", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void A_budget_on_an_allow_rule_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => CompiledPolicy.From(PortcullisConfigLoader.Parse(File("""
                - id: generous
                  effect: allow
                  match: { connections: [demo] }
                  budget: { window: 1h, requests: 3 }
            """))));
        Assert.Contains("policy.rules[0] ('generous'): a budget applies the rule's effect once spent, so it needs effect deny or require_approval", error.Message);
    }

    [Theory]
    [InlineData("{ connections: [files] }", "it matches connection 'files' (mcp)")]
    [InlineData("{ connections: [warehouse], mcp: { tools: [query], sql_argument: sql }, sql: { reads: [demo.customers] } }", "its mcp: match judges the tools of an MCP server")]
    [InlineData("{ connections: [demo], paths: [/customers] }", "it matches connection 'demo' (http)")]
    [InlineData("{ groups: [agents] }", "it names no connections and no sql: conditions")]
    public void A_rows_budget_on_a_rule_that_matches_actions_whose_rows_are_not_counted_is_refused(string match, string why)
    {
        var error = Assert.Throws<InvalidOperationException>(() => CompiledPolicy.From(PortcullisConfigLoader.Parse(WithMcpServer($$"""
                - id: rows
                  effect: deny
                  match: {{match}}
                  budget: { window: 1h, rows: 100 }
            """))));
        Assert.Contains("policy.rules[0] ('rows'): budget.rows counts the rows of SQL the gateway runs", error.Message);
        Assert.Contains(why, error.Message);
    }

    [Theory]
    [InlineData("{ connections: [warehouse] }")]
    [InlineData("{ sql: { reads: [demo.customers] } }")]
    [InlineData("{ connections: [files] }", "requests: 100")]
    public void A_rows_budget_on_sql_the_gateway_runs_and_other_limits_anywhere_are_accepted(string match, string limit = "rows: 100")
    {
        var policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(WithMcpServer($$"""
                - id: b
                  effect: deny
                  match: {{match}}
                  budget: { window: 1h, {{limit}} }
            """)));
        Assert.NotNull(Assert.Single(policy.BudgetRules).Budget);
    }

    [Fact]
    public void A_budget_survives_the_canonical_form_versions_are_stored_in()
    {
        var config = PortcullisConfigLoader.Parse(File("""
                - id: b
                  effect: deny
                  match: { connections: [warehouse] }
                  budget: { window: 30m, per: session, rows: 500, masked: { EMAIL: 100 } }
            """)).Policy.Read<PolicyConfig>();
        var yaml = config.ToYaml();
        var again = PolicyConfig.Parse(yaml);
        Assert.Equal(yaml, again.ToYaml());
        var budget = again.Rules.Single().Budget!;
        Assert.Equal(("30m", "session", 500L, 100L), (budget.Window, budget.Per, budget.Rows!.Value, budget.Masked["EMAIL"]));
    }

    [Fact]
    public void Policy_test_cases_can_take_budgets_as_spent()
    {
        var config = PortcullisConfigLoader.Parse(File(CustomerBudget) + "\n" + """
              tests:
                - name: reads within budget run
                  principal: { subject: agent-1, groups: [agents] }
                  action: { protocol: http, connection: demo, method: GET, path: /customers/1 }
                  expect: allow
                - name: reads past the budget need approval
                  principal: { subject: agent-1, groups: [agents] }
                  action: { protocol: http, connection: demo, method: GET, path: /customers/1 }
                  budgets_spent: [customer-records-budget]
                  expect: require_approval
                  rule: customer-records-budget
                - name: a rule without a budget cannot be spent
                  action: { protocol: http, connection: demo, method: GET, path: /customers/1 }
                  budgets_spent: [no-such-rule]
                  expect: allow
            """);
        var report = new PolicyTestRunner(Evaluator).Run(CompiledPolicy.From(config), config.Policy.Read<PolicyConfig>().Tests);
        Assert.Equal(2, report.Passed);
        Assert.Contains("budgets_spent names 'no-such-rule', which is not a rule with a budget", report.Failures.Single().Reason);
    }
}
