using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// A rule that reads a query field reads it as every upstream might: a name sent twice, in another case, in PHP's
/// array or dotted form, or after a ';' separator is the same field, and an allow rule must hold for every value of it.
/// </summary>
public class QueryConditionTests
{
    private const string Yaml = """
        connections:
          demo: { kind: http, upstream: "http://127.0.0.1:1/" }
        policy:
          default_effect: deny
          rules:
            - id: no-internal-reports
              effect: deny
              match: { connections: [demo], paths: ["/reports"], query: ["scope=internal"] }
            - id: own-account-only
              effect: allow
              match: { connections: [demo], methods: [GET], paths: ["/accounts"], query: ["id=42"] }
            - id: public-reports
              effect: allow
              match: { connections: [demo], methods: [GET], paths: ["/reports"] }
        """;

    private static readonly CompiledPolicy Policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static Decision Decide(string path, string query) =>
        Evaluator.Evaluate(Policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-1", "agent-1", ["agents"]),
            new AgentAction(Protocols.Http, "demo", "GET", path, query), DateTimeOffset.UtcNow)).Evaluated.Decision;

    [Theory]
    [InlineData("?id=42")]
    [InlineData("?id=42&id=42")]
    [InlineData("?ID=42")]
    public void An_allow_rule_holds_when_every_value_of_its_field_matches(string query) =>
        Assert.Equal(Decision.Allow, Decide("/accounts", query));

    [Theory]
    [InlineData("?id=42&id=7")]          // the upstream reads the last (PHP) or both (Express)
    [InlineData("?id=7&id=42")]          // ... or the first
    [InlineData("?id=42&ID=7")]          // model binders ignore case
    [InlineData("?id=42&id[]=7")]        // PHP and Rails read id[] as the array 'id'
    [InlineData("?id=42&i%64=7")]        // an encoded name is the same name
    [InlineData("?id=42&%20id=7")]       // PHP drops leading spaces from a name
    [InlineData("?id=42;id=7")]          // frameworks that split on ';'
    [InlineData("?x=1;id=7&id=42")]
    [InlineData("?id=7")]
    [InlineData("?other=42")]
    public void An_allow_rule_does_not_hold_when_any_reading_of_the_field_differs(string query) => Assert.Equal(Decision.Deny, Decide("/accounts", query));

    [Theory]
    [InlineData("?scope=internal")]
    [InlineData("?scope=public&scope=internal")]
    [InlineData("?scope=internal&scope=public")]
    [InlineData("?SCOPE=internal")]
    [InlineData("?scope[]=internal")]
    [InlineData("?scope=public;scope=internal")]
    [InlineData("?sc%6Fpe=internal")]
    public void A_deny_rule_holds_when_any_value_of_its_field_matches(string query) =>
        Assert.Equal(Decision.Deny, Decide("/reports", query));

    [Theory]
    [InlineData("?scope=public")]
    [InlineData("")]
    public void Other_values_are_not_denied(string query) =>
        Assert.Equal(Decision.Allow, Decide("/reports", query));
}
