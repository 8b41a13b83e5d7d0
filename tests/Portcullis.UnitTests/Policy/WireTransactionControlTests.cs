using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// The wire listener's transaction control on a connection with obligations (the corpus warehouse has a statement
/// timeout): one transaction statement, sent alone in an action that names its transaction, is judged by the rules; any
/// other statement that could lift an obligation is still refused as an escape, transaction or not.
/// </summary>
public sealed class WireTransactionControlTests
{
    private static readonly CompiledPolicy Policy = CompiledPolicy.From(PortcullisConfigLoader.Load(
        Path.Combine(AppContext.BaseDirectory, "Policy", "Corpus", "corpus-policy.yaml")));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static PolicyEvaluated Decide(string sql, string? transaction) =>
        Evaluator.Evaluate(Policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-7", "agent-7", ["agents"]),
            new AgentAction(Protocols.Sql, "warehouse", Sql: sql, Transaction: transaction), DateTimeOffset.UtcNow)).Evaluated;

    [Theory]
    [InlineData("BEGIN")]
    [InlineData("BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE")]
    [InlineData("COMMIT")]
    [InlineData("ROLLBACK")]
    [InlineData("SAVEPOINT \"a\"")]
    [InlineData("RELEASE SAVEPOINT \"a\"")]
    [InlineData("ROLLBACK TO SAVEPOINT \"a\"")]
    public void Transaction_control_of_a_wire_transaction_is_judged_by_the_rules(string sql)
    {
        var decided = Decide(sql, "tx-1");
        Assert.True(decided.Decision == Decision.Allow, $"{decided.RuleId}: {decided.Reason}");
        Assert.Equal(PolicyEvaluator.ObligationEscapeRule, Decide(sql, transaction: null).RuleId);
    }

    [Theory]
    [InlineData("COMMIT; UPDATE orders SET total = 0")]
    [InlineData("BEGIN; SELECT 1; COMMIT")]
    [InlineData("SET LOCAL statement_timeout = '1h'")]
    [InlineData("SET TRANSACTION READ WRITE")]
    [InlineData("SET statement_timeout = 0")]
    // Transaction control not in the form the gateway rebuilds it in: the gateway runs such text only as an ordinary
    // statement, where a COMMIT would end the pinned transaction under the guard of the statements after it.
    [InlineData("-- x\rCOMMIT")]
    [InlineData("/* x */ COMMIT")]
    [InlineData("commit")]
    [InlineData("SAVEPOINT a")]
    [InlineData("START TRANSACTION READ WRITE")]
    public void Anything_else_that_could_lift_an_obligation_is_still_an_escape_inside_a_transaction(string sql) =>
        Assert.Equal(PolicyEvaluator.ObligationEscapeRule, Decide(sql, "tx-1").RuleId);
}
