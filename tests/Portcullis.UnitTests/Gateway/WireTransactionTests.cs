using Portcullis.Gateway.Connectors.Postgres;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.PostgresWire;

namespace Portcullis.UnitTests.Gateway;

public sealed class WireTransactionTests
{
    [Theory]
    [InlineData("BEGIN", ControlKind.Begin, null, "BEGIN")]
    [InlineData("begin isolation level serializable, read write", ControlKind.Begin, null, "BEGIN")]
    [InlineData("START TRANSACTION READ ONLY", ControlKind.Begin, null, "START TRANSACTION")]
    [InlineData("/* c */ COMMIT", ControlKind.Commit, null, "COMMIT")]
    [InlineData("END WORK", ControlKind.Commit, null, "COMMIT")]
    [InlineData("COMMIT AND NO CHAIN", ControlKind.Commit, null, "COMMIT")]
    [InlineData("ABORT", ControlKind.Rollback, null, "ROLLBACK")]
    [InlineData("ROLLBACK TRANSACTION", ControlKind.Rollback, null, "ROLLBACK")]
    [InlineData("SAVEPOINT Before_Write", ControlKind.Savepoint, "before_write", "SAVEPOINT")]
    [InlineData("SAVEPOINT \"Mixed Case\"", ControlKind.Savepoint, "Mixed Case", "SAVEPOINT")]
    [InlineData("RELEASE SAVEPOINT a", ControlKind.Release, "a", "RELEASE")]
    [InlineData("RELEASE b", ControlKind.Release, "b", "RELEASE")]
    [InlineData("ROLLBACK TO SAVEPOINT a", ControlKind.RollbackTo, "a", "ROLLBACK")]
    [InlineData("ROLLBACK WORK TO c", ControlKind.RollbackTo, "c", "ROLLBACK")]
    [InlineData("-- c\rCOMMIT", ControlKind.Commit, null, "COMMIT")]
    [InlineData("-- x\rUPDATE orders SET total = 0 /*\nBEGIN */", ControlKind.None, null, "")]
    [InlineData("COMMIT AND CHAIN", ControlKind.Unsupported, null, "")]
    [InlineData("ROLLBACK AND CHAIN", ControlKind.Unsupported, null, "")]
    [InlineData("PREPARE TRANSACTION 'x'", ControlKind.Unsupported, null, "")]
    [InlineData("COMMIT PREPARED 'x'", ControlKind.Unsupported, null, "")]
    [InlineData("ROLLBACK PREPARED 'x'", ControlKind.Unsupported, null, "")]
    [InlineData("SELECT 'BEGIN'", ControlKind.None, null, "")]
    [InlineData("PREPARE p AS SELECT 1", ControlKind.None, null, "")]
    [InlineData("SET TRANSACTION READ WRITE", ControlKind.None, null, "")]
    public void Transaction_control_is_read_from_its_keywords(string sql, ControlKind kind, string? savepoint, string tag)
    {
        var control = TransactionControl.Of(sql);
        Assert.Equal((kind, savepoint, tag), (control.Kind, control.Savepoint, control.Tag));
    }

    [Theory]
    [InlineData("BEGIN", "BEGIN")]
    [InlineData("begin work isolation level serializable, read write", "BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE")]
    [InlineData("START TRANSACTION READ ONLY DEFERRABLE", "BEGIN READ ONLY, DEFERRABLE")]
    [InlineData("BEGIN -- c\rREAD WRITE;", "BEGIN READ WRITE")]
    [InlineData("/* a /* nested */ comment */ END TRANSACTION AND NO CHAIN", "COMMIT")]
    [InlineData("-- c\rCOMMIT", "COMMIT")]
    [InlineData("abort work", "ROLLBACK")]
    [InlineData("SAVEPOINT work", "SAVEPOINT \"work\"")]
    [InlineData("savepoint \"a\"\"b\"", "SAVEPOINT \"a\"\"b\"")]
    [InlineData("RELEASE savepoint", "RELEASE SAVEPOINT \"savepoint\"")]
    [InlineData("ROLLBACK WORK TO SAVEPOINT A", "ROLLBACK TO SAVEPOINT \"a\"")]
    public void Transaction_control_runs_as_rebuilt_from_what_was_read_never_as_sent(string sql, string runs) =>
        Assert.Equal(runs, TransactionControl.Of(sql).Sql);

    /// <summary>
    /// Transaction control runs without the obligations' guard, so a text the gateway would read as BEGIN (or COMMIT...)
    /// while PostgreSQL reads more, or something else, is refused rather than run.
    /// </summary>
    [Theory]
    [InlineData("BEGIN; UPDATE orders SET total = 0")]
    [InlineData("BEGIN READ WRITE, UPDATE")]
    [InlineData("BEGIN ISOLATION LEVEL READ WRITE")]
    [InlineData("BEGIN READ ONLY,")]
    [InlineData("BEGIN\u00a0READ WRITE")]
    [InlineData("COMMIT 'x'")]
    [InlineData("ROLLBACK TO")]
    [InlineData("SAVEPOINT a b")]
    [InlineData("SAVEPOINT a; SELECT pg_sleep(1)")]
    [InlineData("RELEASE SAVEPOINT a, b")]
    [InlineData("START x")]
    [InlineData("END PREPARED 'x'")]
    public void A_transaction_keyword_that_does_not_read_fully_as_transaction_control_is_refused(string sql)
    {
        var control = TransactionControl.Of(sql);
        Assert.Equal(ControlKind.Malformed, control.Kind);
        Assert.Equal("42601", new WireTransaction().Refusal(control)!.SqlState);
    }

    /// <summary>
    /// PostgreSQL ends a line comment at a carriage return: text after one is a statement, not a comment, for the
    /// gateway too (else "-- x\rCOMMIT" would run as an ordinary statement, ending the pinned transaction upstream).
    /// </summary>
    [Theory]
    [InlineData("-- x\rUPDATE orders SET total = 0 /*\nBEGIN */", "UPDATE")]
    [InlineData("-- x\rCOMMIT", "COMMIT")]
    public void A_line_comment_ends_at_a_carriage_return(string sql, string first)
    {
        Assert.Equal(first, WireSql.Words(sql, 1)[0]);
        Assert.Single(WireSql.Statements(sql + ";"));
        Assert.Equal(["-- x\rSELECT 1", "SELECT 2"], WireSql.Statements("-- x\rSELECT 1; SELECT 2"));
    }

    /// <summary>Each open transaction holds a pool connection: past the cap a BEGIN gets none, and each one given back frees one.</summary>
    [Fact]
    public async Task Pinned_connections_are_capped_per_connection_and_freed_once_each()
    {
        using var secrets = new SecretResolver(new ConfigurationBuilder().Build(), NullLogger<SecretResolver>.Instance);
        var postgres = new PostgresConnector(new PortcullisConfig(), secrets, new ColumnOrigins(),
            new MaskedViews(new MaskedColumnRules()), NullLogger<PostgresConnector>.Instance);
        var first = postgres.Pin("warehouse", 2)!;
        Assert.NotNull(postgres.Pin("warehouse", 2));
        Assert.Null(postgres.Pin("warehouse", 2));
        Assert.NotNull(postgres.Pin("other", 2)); // counted per connection
        await postgres.ReleaseAsync(first);
        await postgres.ReleaseAsync(first); // given back twice (rollback, then the connection closing): freed once
        Assert.NotNull(postgres.Pin("warehouse", 2));
        Assert.Null(postgres.Pin("warehouse", 2));
    }

    [Fact]
    public void Begin_opens_an_error_fails_and_only_rollback_is_taken_then()
    {
        var transaction = new WireTransaction();
        Assert.Equal((byte)'I', transaction.Status);
        transaction.Fail(); // outside a transaction an error changes nothing
        Assert.Equal((byte)'I', transaction.Status);
        transaction.Began("tx-1", new PinnedConnection("warehouse"), new WireSettings().Save());
        Assert.Equal(((byte)'T', "tx-1"), (transaction.Status, transaction.Id));
        Assert.Null(transaction.Refusal(TransactionControl.Of("SELECT 1")));
        transaction.Fail();
        Assert.Equal((byte)'E', transaction.Status);
        Assert.Equal("25P02", transaction.Refusal(TransactionControl.Of("SELECT 1"))!.SqlState);
        Assert.Equal("25P02", transaction.Refusal(TransactionControl.Of("SAVEPOINT a"))!.SqlState);
        Assert.Null(transaction.Refusal(TransactionControl.Of("ROLLBACK")));
        Assert.Null(transaction.Refusal(TransactionControl.Of("ROLLBACK TO a")));
        Assert.Null(transaction.Refusal(TransactionControl.Of("COMMIT")));
        var (pinned, begun) = transaction.Ended();
        Assert.NotNull(pinned);
        Assert.NotNull(begun);
        Assert.Equal(((byte)'I', (string?)null, (PinnedConnection?)null), (transaction.Status, transaction.Id, transaction.Pinned));
    }

    [Fact]
    public void Outside_a_transaction_commit_and_rollback_warn_and_savepoints_are_refused()
    {
        var transaction = new WireTransaction();
        Assert.Equal("25P01", transaction.NoOp(TransactionControl.Of("COMMIT"))!.SqlState);
        Assert.Equal("WARNING", transaction.NoOp(TransactionControl.Of("ROLLBACK"))!.Severity);
        Assert.Equal("25P01", transaction.Refusal(TransactionControl.Of("SAVEPOINT a"))!.SqlState);
        Assert.Equal("25P01", transaction.Refusal(TransactionControl.Of("ROLLBACK TO a"))!.SqlState);
        Assert.Equal("0A000", transaction.Refusal(TransactionControl.Of("PREPARE TRANSACTION 'x'"))!.SqlState);
        transaction.Began("tx-2", new PinnedConnection("warehouse"), new WireSettings().Save());
        Assert.Equal("25001", transaction.NoOp(TransactionControl.Of("BEGIN"))!.SqlState);
    }

    [Fact]
    public void An_implicit_transaction_refuses_savepoints_takes_begin_without_a_warning_and_becomes_an_ordinary_one()
    {
        var transaction = new WireTransaction();
        transaction.Began("tx-4", new PinnedConnection("warehouse"), new WireSettings().Save(), implicitly: true);
        Assert.Equal((true, (byte)'T'), (transaction.Implicit, transaction.Status));
        // As PostgreSQL outside a transaction block: a savepoint is refused, and BEGIN is not a no-op but takes the block over.
        Assert.Equal("25P01", transaction.Refusal(TransactionControl.Of("SAVEPOINT a"))!.SqlState);
        Assert.Equal("25P01", transaction.Refusal(TransactionControl.Of("RELEASE a"))!.SqlState);
        Assert.Null(transaction.NoOp(TransactionControl.Of("BEGIN")));
        Assert.Null(transaction.NoOp(TransactionControl.Of("COMMIT")));
        transaction.MadeExplicit();
        Assert.False(transaction.Implicit);
        Assert.Null(transaction.Refusal(TransactionControl.Of("SAVEPOINT a")));
        Assert.Equal("25001", transaction.NoOp(TransactionControl.Of("BEGIN"))!.SqlState);
        transaction.Ended();
        Assert.False(transaction.Implicit);
    }

    [Fact]
    public void Rollback_to_a_savepoint_recovers_the_transaction_and_forgets_the_settings_and_savepoints_after_it()
    {
        var settings = new WireSettings();
        var transaction = new WireTransaction();
        transaction.Began("tx-3", new PinnedConnection("warehouse"), settings.Save());
        settings.Succeeded("SET search_path = demo", inTransaction: true);
        transaction.Savepoint("a", settings.Save());
        settings.Succeeded("SET LOCAL TimeZone = 'UTC'", inTransaction: true);
        transaction.Savepoint("b", settings.Save());
        settings.Succeeded("SET DateStyle = ISO", inTransaction: true);
        transaction.Fail();

        settings.Restore(transaction.RolledBackTo("a")!);
        Assert.Equal((byte)'T', transaction.Status);
        Assert.Equal(["a"], transaction.Savepoints);
        Assert.Equal(["SET search_path = demo"], settings.Statements);

        settings.Succeeded("SET LOCAL search_path = public", inTransaction: true);
        Assert.Equal("SET search_path = demo\n;\nSET LOCAL search_path = public\n;\nSELECT 1", settings.Judged("SELECT 1"));
        transaction.Released("a");
        Assert.Empty(transaction.Savepoints);
    }

    [Fact]
    public void A_commit_keeps_the_transactions_sets_and_drops_its_set_locals_a_rollback_drops_both()
    {
        var settings = new WireSettings();
        settings.Succeeded("SET TimeZone = 'UTC'");
        var begun = settings.Save();
        settings.Succeeded("SET search_path = demo", inTransaction: true);
        settings.Succeeded("SET LOCAL DateStyle = ISO", inTransaction: true);
        // Transaction modes are the transaction's own and cannot be set again later in it: never kept.
        settings.Succeeded("SET LOCAL transaction_read_only = off", inTransaction: true);
        settings.Committed();
        Assert.Equal(["SET TimeZone = 'UTC'", "SET search_path = demo"], settings.Statements);

        settings.Succeeded("SET LOCAL DateStyle = ISO", inTransaction: true);
        settings.Restore(begun);
        Assert.Equal(["SET TimeZone = 'UTC'"], settings.Statements);
    }
}
