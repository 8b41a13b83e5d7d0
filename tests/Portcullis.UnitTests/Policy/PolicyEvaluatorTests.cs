using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

public class PolicyEvaluatorTests
{
    private const string Yaml = """
        connections:
          demo: { kind: http, upstream: "http://127.0.0.1:1/", default_effect: allow }
          locked: { kind: http, upstream: "http://127.0.0.1:2/" }
          billing: { kind: http, upstream: "https://billing.prod.internal/api/", default_effect: allow }
        policy:
          default_effect: deny
          rules:
            - id: agents-no-admin
              effect: deny
              reason: Agents may not use admin endpoints.
              match: { connections: [demo], groups: [agents], paths: ["/admin/**"] }
            - id: approve-exports
              effect: require_approval
              approvers: [approvers]
              match: { connections: [demo], paths: ["/customers/export", "/admin/export"] }
            - id: allow-export-for-analysts
              effect: allow
              match: { groups: [analysts], paths: ["/customers/export"] }
            - id: agents-read-only
              effect: deny
              match: { groups: [agents], methods: [post, DELETE] }
            - id: locked-health
              effect: allow
              match: { connections: [locked], methods: [GET], paths: ["/health"] }
            - id: no-deletes-on-production-hosts
              effect: deny
              match: { hosts: ["*.prod.internal"], methods: [DELETE] }
        """;

    private static readonly CompiledPolicy Policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static PolicyEvaluated Decide(string connection, string method, string path, params string[] groups) =>
        Evaluator.Evaluate(Policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-1", "agent-1", groups),
            new AgentAction(Protocols.Http, connection, method, path), DateTimeOffset.UtcNow)).Evaluated;

    [Theory]
    [InlineData("/admin/config")]
    [InlineData("/admin")]
    [InlineData("/ADMIN/Config")]
    [InlineData("/admin/users/42/roles")]
    public void Denies_admin_paths_to_agents_naming_the_rule(string path)
    {
        var decision = Decide("demo", "GET", path, "agents");
        Assert.Equal(Decision.Deny, decision.Decision);
        Assert.Equal("agents-no-admin", decision.RuleId);
        Assert.Equal("Agents may not use admin endpoints.", decision.Reason);
    }

    [Fact]
    public void Admin_paths_are_not_denied_to_principals_outside_the_group()
    {
        var decision = Decide("demo", "GET", "/admin/config", "operators");
        Assert.Equal(Decision.Allow, decision.Decision);
        Assert.Null(decision.RuleId);
    }

    [Fact]
    public void Paths_that_only_start_like_a_denied_prefix_are_not_matched()
    {
        Assert.Equal(Decision.Allow, Decide("demo", "GET", "/administrators", "agents").Decision);
    }

    [Theory]
    [InlineData("/admin.json")]
    [InlineData("/admin.json/config")]
    [InlineData("/Admin.XML")]
    [InlineData("/admin/config.json")]
    public void Deny_rules_cover_their_paths_with_a_format_suffix(string path)
    {
        Assert.Equal("agents-no-admin", Decide("demo", "GET", path, "agents").RuleId);
    }

    [Theory]
    [InlineData("/customers/export.json")]
    [InlineData("/customers/export.csv")]
    [InlineData("/customers/export/x")]
    [InlineData("/customers/export/2024.csv")]
    [InlineData("/CUSTOMERS/EXPORT.JSON")]
    public void Approval_rules_cover_their_paths_with_a_format_suffix_and_beneath(string path)
    {
        var decision = Decide("demo", "GET", path, "operators");
        Assert.Equal(Decision.RequireApproval, decision.Decision);
        Assert.Equal("approve-exports", decision.RuleId);
    }

    [Theory]
    [InlineData("/health.json")]
    [InlineData("/health/details")]
    [InlineData("/healthz")]
    public void Allow_rules_vouch_only_for_the_paths_they_name(string path)
    {
        // locked denies by default; its allow rule names /health and nothing more.
        Assert.Equal(Decision.Allow, Decide("locked", "GET", "/health").Decision);
        var decision = Decide("locked", "GET", path);
        Assert.Equal(Decision.Deny, decision.Decision);
        Assert.Null(decision.RuleId);
    }

    [Fact]
    public void An_allow_rule_does_not_carry_a_suffixed_path_past_a_restricting_rule()
    {
        // allow-export-for-analysts names /customers/export; approve-exports still holds /customers/export.json.
        var decision = Decide("demo", "GET", "/customers/export.json", "analysts");
        Assert.Equal(Decision.RequireApproval, decision.Decision);
        Assert.Equal(["approve-exports"], decision.MatchedRules);
    }

    [Fact]
    public void Strictest_effect_wins_when_several_rules_match()
    {
        // approve-exports (require_approval) and allow-export-for-analysts (allow) both match.
        var analyst = Decide("demo", "GET", "/customers/export", "analysts");
        Assert.Equal(Decision.RequireApproval, analyst.Decision);
        Assert.Equal("approve-exports", analyst.RuleId);
        Assert.Equal(["approve-exports", "allow-export-for-analysts"], analyst.MatchedRules);
        Assert.Equal(["approvers"], analyst.ApproverGroups);

        // agents-no-admin (deny) beats approve-exports (require_approval).
        var agent = Decide("demo", "GET", "/admin/export", "agents");
        Assert.Equal(Decision.Deny, agent.Decision);
        Assert.Equal("agents-no-admin", agent.RuleId);
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("delete")]
    public void Methods_match_case_insensitively(string method)
    {
        Assert.Equal("agents-read-only", Decide("demo", method, "/customers/1", "agents").RuleId);
    }

    [Fact]
    public void Connection_without_its_own_default_uses_the_policy_default_deny()
    {
        var denied = Decide("locked", "GET", "/data");
        Assert.Equal(Decision.Deny, denied.Decision);
        Assert.Null(denied.RuleId);
        Assert.Contains("default", denied.Reason);
        Assert.Equal(Decision.Allow, Decide("locked", "GET", "/health").Decision);
    }

    [Fact]
    public void Host_globs_match_the_host_a_connection_reaches()
    {
        Assert.Equal("no-deletes-on-production-hosts", Decide("billing", "DELETE", "/invoices/7").RuleId);
        Assert.Equal(Decision.Allow, Decide("billing", "GET", "/invoices/7").Decision);
        Assert.NotEqual("no-deletes-on-production-hosts", Decide("demo", "DELETE", "/customers/1").RuleId);
    }

    [Fact]
    public void Unknown_connection_is_denied()
    {
        Assert.Equal(Decision.Deny, Decide("elsewhere", "GET", "/", "agents").Decision);
    }

    [Fact]
    public void Every_decision_names_the_policy_version()
    {
        var decision = Decide("demo", "GET", "/customers/1", "agents");
        Assert.StartsWith("sha256:", decision.PolicyVersion);
        var changed = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml.Replace("/admin/**", "/admin/*")));
        Assert.NotEqual(changed.Version, decision.PolicyVersion);
    }

    [Theory]
    [InlineData("- { id: a, effect: maybe }", "effect 'maybe'")]
    [InlineData("- { id: a, effect: deny }\n    - { id: a, effect: allow }", "the id is used twice")]
    [InlineData("- { id: a, effect: require_approval }", "require_approval needs approvers")]
    [InlineData("- { id: a, effect: deny, match: { connections: [nowhere] } }", "connection 'nowhere' is not defined")]
    [InlineData("- { id: a, effect: deny, match: { paths: [admin] } }", "must start with '/'")]
    public void Invalid_rules_stop_the_service_with_a_clear_message(string rules, string expected)
    {
        var yaml = $"connections:\n  demo: {{ upstream: 'http://x/' }}\npolicy:\n  rules:\n    {rules}\n";
        var error = Assert.Throws<InvalidOperationException>(() => CompiledPolicy.From(PortcullisConfigLoader.Parse(yaml)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Misspelt_rule_fields_are_errors_not_silent_wildcards()
    {
        var yaml = "policy:\n  rules:\n    - { id: a, effect: deny, match: { pathz: ['/admin'] } }\n";
        var error = Assert.Throws<InvalidOperationException>(() => CompiledPolicy.From(PortcullisConfigLoader.Parse(yaml)));
        Assert.Contains("line 3", error.Message);
    }
}
