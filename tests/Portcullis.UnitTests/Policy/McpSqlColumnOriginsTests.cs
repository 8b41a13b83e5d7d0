using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// An MCP tool's SQL argument a rule analysed: masked columns stay masked there as on /sql, and the decision names the
/// output columns that are masked columns, so masking can find them in the tool's rows.
/// </summary>
public class McpSqlColumnOriginsTests
{
    private const string Yaml = """
        connections:
          pgdemo: { kind: mcp, command: node, args: [server.js], default_effect: allow }
        policy:
          default_effect: deny
          rules:
            - id: pgdemo-no-ddl
              effect: deny
              match: { connections: [pgdemo], mcp: { tools: [query], sql_argument: sql }, sql: { kinds: [ddl, drop, truncate] } }
        masking:
          rules:
            - id: names
              connections: [pgdemo]
              columns: [demo.customers.name, demo.customers.ssn]
        """;

    private static readonly CompiledPolicy Policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static PolicyEvaluated Decide(string sql) =>
        Evaluator.Evaluate(Policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-1", "agent-1", ["agents"]),
            new AgentAction(Protocols.Mcp, "pgdemo", Tool: "query",
                Arguments: System.Text.Json.JsonSerializer.Serialize(new { sql })), DateTimeOffset.UtcNow)).Evaluated;

    [Fact]
    public void A_bare_masked_column_is_allowed_and_named_by_its_output_name_alias_or_not()
    {
        var plain = Decide("SELECT id, name FROM demo.customers");
        Assert.Equal(Decision.Allow, plain.Decision);
        Assert.Equal(["demo.customers.name"], plain.Obligations!.ColumnOrigins!["name"]);
        Assert.False(plain.Obligations.ColumnOrigins.ContainsKey("id"));

        var aliased = Decide("SELECT c.name AS n FROM demo.customers c");
        Assert.Equal(["demo.customers.name"], aliased.Obligations!.ColumnOrigins!["n"]);
    }

    [Fact]
    public void The_relations_the_argument_reads_are_named_for_the_gateways_view_check()
    {
        // A view over a masked column would come back under its own name: the gateway looks each relation up.
        var view = Decide("SELECT id, login_hint FROM demo.service_logins s JOIN demo.orders o ON o.id = s.id");
        Assert.Equal(Decision.Allow, view.Decision);
        Assert.Equal(["demo.orders", "demo.service_logins"], view.Obligations!.Relations);
        Assert.Empty(Decide("SELECT 1").Obligations!.Relations!);
    }

    [Fact]
    public void One_name_for_two_masked_columns_lists_both()
    {
        var both = Decide("SELECT name AS x, ssn AS x FROM demo.customers");
        Assert.Equal(Decision.Allow, both.Decision);
        Assert.Equal(["demo.customers.name", "demo.customers.ssn"], both.Obligations!.ColumnOrigins!["x"]);
    }

    [Theory]
    [InlineData("SELECT upper(name) FROM demo.customers")]
    [InlineData("SELECT id FROM demo.customers WHERE name LIKE 'A%'")]
    [InlineData("SELECT * FROM demo.customers")]
    public void Computing_on_or_starring_a_masked_column_is_refused(string sql)
    {
        var refused = Decide(sql);
        Assert.Equal(Decision.Deny, refused.Decision);
        Assert.Equal(PolicyEvaluator.MaskedColumnFlowRule, refused.RuleId);
    }
}
