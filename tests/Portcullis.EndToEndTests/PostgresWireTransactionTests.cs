using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Npgsql;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Real transactions through the gateway's PostgreSQL port: BEGIN pins one upstream connection, COMMIT keeps what the
/// transaction did and ROLLBACK undoes it, errors put the transaction in PostgreSQL's failed state, obligations hold
/// whatever the transaction does, and the audit says how each transaction ended.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PostgresWireTransactionTests(PortcullisStack stack)
{
    /// <summary>Rows agents write in these tests; the guarded table is read only under a read_only obligation.</summary>
    private const string Notes = "demo.wire_tx_notes";
    private const string Guarded = "demo.wire_tx_guarded";

    private static string NewSession() => "e2e-wiretx-" + Guid.NewGuid().ToString("N")[..10];

    private static string NewKey() => Guid.NewGuid().ToString("N");

    internal static async Task CreateTablesAsync(PortcullisStack stack)
    {
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"""
            CREATE TABLE IF NOT EXISTS {Notes} (id text PRIMARY KEY, note text);
            CREATE TABLE IF NOT EXISTS {Guarded} (id int PRIMARY KEY, label text);
            INSERT INTO {Guarded} VALUES (1, 'one') ON CONFLICT DO NOTHING;
            GRANT SELECT, INSERT, UPDATE, DELETE ON {Notes}, {Guarded} TO "{DemoDatabase.AgentRole}";
            """, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> NotesWith(string key)
    {
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM {Notes} WHERE id = $1", connection);
        command.Parameters.AddWithValue(key);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    private static async Task<int> Run(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    private static JsonElement[] Received(JsonElement timeline) =>
        [.. timeline.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("type").GetString() == "RequestReceived")
            .Select(e => e.GetProperty("data").GetProperty("action"))];

    private static string? TransactionOf(JsonElement action) =>
        action.TryGetProperty("transaction", out var id) ? id.GetString() : null;

    [Fact]
    public async Task A_rolled_back_insert_leaves_nothing_a_committed_one_stays_and_the_audit_says_which()
    {
        await CreateTablesAsync(stack);
        var (undone, kept) = (NewKey(), NewKey());
        var session = NewSession();
        await using (var connection = await WireAgent.ConnectAsync(stack, session))
        {
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                await Run(connection, $"INSERT INTO {Notes} (id, note) VALUES ('{undone}', 'rolled back')");
                // The transaction sees its own write: the statements share one upstream transaction.
                await using (var seen = new NpgsqlCommand($"SELECT count(*) FROM {Notes} WHERE id = '{undone}'", connection))
                    Assert.Equal(1L, Convert.ToInt64(await seen.ExecuteScalarAsync()));
                Assert.Equal(0, await NotesWith(undone)); // and nobody else does before it commits
                await transaction.RollbackAsync();
            }
            Assert.Equal(0, await NotesWith(undone));

            await using (var transaction = await connection.BeginTransactionAsync())
            {
                await Run(connection, $"INSERT INTO {Notes} (id, note) VALUES ('{kept}', 'committed')");
                await transaction.CommitAsync();
            }
            Assert.Equal(1, await NotesWith(kept));
        }

        // Seven statements in the two transactions: BEGIN, INSERT, SELECT, ROLLBACK; BEGIN, INSERT, COMMIT.
        var timeline = await stack.TimelineAsync(session, t => Received(t).Count(a => TransactionOf(a) is not null) >= 7);
        var actions = Received(timeline).Where(a => TransactionOf(a) is not null).ToArray();
        var rolledBack = actions.Single(a => a.GetProperty("sql").GetString()!.StartsWith("INSERT") && a.GetProperty("sql").GetString()!.Contains(undone));
        var committed = actions.Single(a => a.GetProperty("sql").GetString()!.StartsWith("INSERT") && a.GetProperty("sql").GetString()!.Contains(kept));
        Assert.NotEqual(TransactionOf(rolledBack), TransactionOf(committed));
        // Each transaction's BEGIN and its end are actions of the session with the same id: a reader knows which writes stand.
        Assert.Equal(["BEGIN", "ROLLBACK"], actions.Where(a => TransactionOf(a) == TransactionOf(rolledBack))
            .Select(a => a.GetProperty("sql").GetString()!).Where(s => !s.StartsWith("INSERT") && !s.StartsWith("SELECT"))
            .Select(s => s.Split(' ')[0]));
        Assert.Equal(["BEGIN", "COMMIT"], actions.Where(a => TransactionOf(a) == TransactionOf(committed))
            .Select(a => a.GetProperty("sql").GetString()!).Where(s => !s.StartsWith("INSERT"))
            .Select(s => s.Split(' ')[0]));
    }

    private static string Insert(string key, string note = "x") => $"INSERT INTO {Notes} (id, note) VALUES ('{key}', '{note}')";

    /// <summary>The statements of the session's transaction that wrote <paramref name="key"/>, in order (BEGIN first, its end last).</summary>
    private static string[] TransactionWith(JsonElement timeline, string key)
    {
        var actions = Received(timeline);
        var id = TransactionOf(actions.Single(a => a.GetProperty("sql").GetString()!.Contains(key)));
        Assert.NotNull(id);
        return [.. actions.Where(a => TransactionOf(a) == id).Select(a => a.GetProperty("sql").GetString()!.Split(' ')[0])];
    }

    [Fact]
    public async Task Several_statements_in_one_query_are_one_implicit_transaction_all_or_nothing_as_in_postgresql()
    {
        await CreateTablesAsync(stack);
        var session = NewSession();
        var (a, b, c, d, e, f, g, h, i) = (NewKey(), NewKey(), NewKey(), NewKey(), NewKey(), NewKey(), NewKey(), NewKey(), NewKey());
        using var wire = await RawWire.OpenAsync(stack, session);

        // An error in the last part undoes the parts before it; the session is not left in a transaction.
        var failed = await wire.QueryAsync($"{Insert(a)}; {Insert(b)}; SELECT 1/0");
        Assert.Equal(("22012", 'I'), (failed.Error, failed.Status));
        Assert.Equal((0, 0), (await NotesWith(a), await NotesWith(b)));
        // A policy denial in a part undoes them too.
        var denied = await wire.QueryAsync($"{Insert(c)}; DROP TABLE demo.customers");
        Assert.Equal(("42501", 'I'), (denied.Error, denied.Status));
        Assert.Equal(0, await NotesWith(c));
        // All parts succeeding: all of them stand.
        var done = await wire.QueryAsync($"{Insert(d)}; {Insert(e)}");
        Assert.Equal(((string?)null, 'I', "INSERT 0 1"), (done.Error, done.Status, done.Tag));
        Assert.Equal((1, 1), (await NotesWith(d), await NotesWith(e)));
        // A COMMIT among the parts ends the implicit transaction there: what came before it stands.
        var committed = await wire.QueryAsync($"{Insert(f)}; COMMIT; {Insert(g)}; SELECT 1/0");
        Assert.Equal(("22012", 'I'), (committed.Error, committed.Status));
        Assert.Equal((1, 0), (await NotesWith(f), await NotesWith(g)));
        // A BEGIN among the parts makes the transaction an ordinary one, the parts before it included.
        var begun = await wire.QueryAsync($"{Insert(h)}; BEGIN; {Insert(i)}");
        Assert.Equal(((string?)null, 'T'), (begun.Error, begun.Status));
        Assert.Equal('I', (await wire.QueryAsync("ROLLBACK")).Status);
        Assert.Equal((0, 0), (await NotesWith(h), await NotesWith(i)));
        // A savepoint is refused outside a transaction block, as PostgreSQL refuses it.
        var savepoint = await wire.QueryAsync($"{Insert(NewKey())}; SAVEPOINT s");
        Assert.Equal(("25P01", 'I'), (savepoint.Error, savepoint.Status));

        // The audit says which writes stood: each part names its transaction, whose last action is how it ended.
        var timeline = await stack.TimelineAsync(session, t => Received(t).Count(x => x.GetProperty("sql").GetString() == "ROLLBACK") >= 5);
        Assert.Equal(["BEGIN", "INSERT", "INSERT", "SELECT", "ROLLBACK"], TransactionWith(timeline, a));
        Assert.Equal(["BEGIN", "INSERT", "DROP", "ROLLBACK"], TransactionWith(timeline, c));
        Assert.Equal(["BEGIN", "INSERT", "INSERT", "COMMIT"], TransactionWith(timeline, d));
        Assert.Equal(["BEGIN", "INSERT", "COMMIT"], TransactionWith(timeline, f));
        Assert.Equal(["BEGIN", "INSERT", "SELECT", "ROLLBACK"], TransactionWith(timeline, g));
        Assert.Equal(["BEGIN", "INSERT", "BEGIN", "INSERT", "ROLLBACK"], TransactionWith(timeline, h));
    }

    [Fact]
    public async Task An_extended_protocol_batch_up_to_its_sync_is_one_implicit_transaction_and_a_lone_statement_runs_on_its_own()
    {
        await CreateTablesAsync(stack);
        var session = NewSession();
        var (a, b, c, d, alone) = (NewKey(), NewKey(), NewKey(), NewKey(), NewKey());
        using (var wire = await RawWire.OpenAsync(stack, session))
        {
            var failed = await wire.BatchAsync(Insert(a), Insert(b), "SELECT 1/0");
            Assert.Equal(("22012", 'I'), (failed.Error, failed.Status));
            Assert.Equal((0, 0), (await NotesWith(a), await NotesWith(b)));
            var done = await wire.BatchAsync(Insert(c), Insert(d));
            Assert.Equal(((string?)null, 'I'), (done.Error, done.Status));
            Assert.Equal((1, 1), (await NotesWith(c), await NotesWith(d)));
            Assert.Null((await wire.BatchAsync(Insert(alone))).Error);
        }
        // Npgsql's own batches: a command of several statements is sent as one batch of Executes before one Sync.
        var (e, f) = (NewKey(), NewKey());
        await using (var connection = await WireAgent.ConnectAsync(stack, session))
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => Run(connection, $"{Insert(e)}; {Insert(f)}; SELECT 1/0"));
            Assert.Equal("22012", error.SqlState);
        }
        Assert.Equal((0, 0), (await NotesWith(e), await NotesWith(f)));

        var timeline = await stack.TimelineAsync(session, t => Received(t).Count(x => x.GetProperty("sql").GetString() == "ROLLBACK") >= 2
            && Received(t).Any(x => x.GetProperty("sql").GetString()!.Contains(alone)));
        Assert.Equal(["BEGIN", "INSERT", "INSERT", "SELECT", "ROLLBACK"], TransactionWith(timeline, a));
        Assert.Equal(["BEGIN", "INSERT", "INSERT", "COMMIT"], TransactionWith(timeline, c));
        Assert.Equal(["BEGIN", "INSERT", "INSERT", "SELECT", "ROLLBACK"], TransactionWith(timeline, e));
        // A statement alone before its Sync pays for no transaction of its own: it commits by itself, as before.
        Assert.Null(TransactionOf(Received(timeline).Single(x => x.GetProperty("sql").GetString()!.Contains(alone))));
    }

    [Fact]
    public async Task A_cancel_request_racing_a_commit_does_not_undo_it_and_the_audit_records_the_commit_that_went_through()
    {
        await CreateTablesAsync(stack);
        var session = NewSession();
        var key = NewKey();
        using var wire = await RawWire.OpenAsync(stack, session);
        await wire.QueryAsync("BEGIN");
        await wire.QueryAsync(Insert(key));
        await wire.SendQueryAsync("COMMIT");
        await wire.CancelAsync();
        var commit = await wire.AnswerAsync();
        // PostgreSQL does not cancel a COMMIT: it is the database's answer that counts, and it committed.
        Assert.Equal(((string?)null, "COMMIT", 'I'), (commit.Error, commit.Tag, commit.Status));
        Assert.Equal(1, await NotesWith(key));

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Count(x => x.GetProperty("type").GetString() == "RequestCompleted") >= 3);
        var events = timeline.GetProperty("events").EnumerateArray().ToArray();
        var request = events.Single(x => x.GetProperty("type").GetString() == "RequestReceived"
            && x.GetProperty("data").GetProperty("action").GetProperty("sql").GetString() == "COMMIT").GetProperty("data").GetProperty("requestId").GetString();
        var completed = events.Single(x => x.GetProperty("type").GetString() == "RequestCompleted"
            && x.GetProperty("data").GetProperty("requestId").GetString() == request);
        Assert.Equal("completed", completed.GetProperty("data").GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task An_identity_holds_at_most_its_cap_of_open_transactions_counted_across_gateway_instances()
    {
        var port = ServiceProcess.FreePort();
        var (gateway, client) = await stack.StartExtraGatewayAsync("gateway-wire-cap", new()
        {
            ["PostgresWire__Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PostgresWire__MaxOpenTransactionsPerIdentity"] = "2",
        });
        using var http = client;
        var open = new List<RawWire>();
        try
        {
            // Two transactions open through the stack's gateway (whose own cap is higher) ...
            foreach (var _ in Enumerable.Range(0, 2))
            {
                var wire = await RawWire.OpenAsync(stack, NewSession(), agent: PortcullisStack.SecondAgentClient);
                open.Add(wire);
                Assert.Equal('T', (await wire.QueryAsync("BEGIN")).Status);
            }
            // ... count on the other instance, whose cap for the identity is two: a third is refused there.
            var other = await RawWire.OpenAsync(stack, NewSession(), port: port, agent: PortcullisStack.SecondAgentClient);
            open.Add(other);
            var refused = await other.QueryAsync("BEGIN");
            Assert.Equal(("53300", 'I'), (refused.Error, refused.Status));
            // The same goes for the implicit transaction of a query of several statements.
            Assert.Equal("53300", (await other.QueryAsync("SELECT 1; SELECT 2")).Error);
            Assert.Null((await other.QueryAsync("SELECT 1")).Error); // a statement on its own needs no transaction
            // Another identity is not held back by this one's transactions.
            var another = await RawWire.OpenAsync(stack, NewSession(), port: port);
            open.Add(another);
            Assert.Equal('T', (await another.QueryAsync("BEGIN")).Status);
            // One of the identity's transactions ends: the other instance takes the next.
            Assert.Equal('I', (await open[0].QueryAsync("ROLLBACK")).Status);
            Assert.Equal('T', (await other.QueryAsync("BEGIN")).Status);
        }
        finally
        {
            foreach (var wire in open) wire.Dispose();
            await gateway.DisposeAsync();
            await WaitUntilTransactionsAreGivenBackAsync(PortcullisStack.SecondAgentClient);
        }
    }

    [Fact]
    public async Task A_statement_prepared_inside_a_transaction_is_described_on_its_connection_and_sees_its_temporary_table()
    {
        var session = NewSession();
        await using var connection = await WireAgent.ConnectAsync(stack, session, "warehouse-tx");
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            await Run(connection, "CREATE TEMP TABLE wire_describe_probe (id int, label text)");
            await Run(connection, "INSERT INTO wire_describe_probe (id, label) VALUES (1, 'one')");
            // Npgsql's Prepare is Parse and Describe of the statement: described where the temporary table exists.
            await using var command = new NpgsqlCommand("SELECT id, label FROM wire_describe_probe WHERE id = $1", connection);
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer, Value = 1 });
            await command.PrepareAsync();
            await using (var reader = await command.ExecuteReaderAsync())
            {
                Assert.True(await reader.ReadAsync());
                Assert.Equal((1, "one"), (reader.GetInt32(0), reader.GetString(1)));
            }
            // A statement the database cannot describe fails the transaction, as a failed Parse does in PostgreSQL.
            await using var wrong = new NpgsqlCommand("SELECT no_such_column FROM wire_describe_probe", connection);
            Assert.Equal("42703", (await Assert.ThrowsAsync<PostgresException>(() => wrong.PrepareAsync())).SqlState);
            Assert.Equal("25P02", (await Assert.ThrowsAsync<PostgresException>(() => Run(connection, "SELECT 1"))).SqlState);
            await transaction.RollbackAsync();
        }

        var timeline = await stack.TimelineAsync(session, t => Received(t).Any(a => a.GetProperty("sql").GetString() == "ROLLBACK"));
        var described = Received(timeline).First(a => a.TryGetProperty("method", out var method) && method.GetString() == "DESCRIBE");
        Assert.Equal(TransactionOf(Received(timeline).First(a => a.GetProperty("sql").GetString()!.StartsWith("CREATE TEMP"))), TransactionOf(described));
    }

    [Fact]
    public async Task A_denied_statement_fails_the_transaction_until_rollback_as_the_status_bytes_say()
    {
        await CreateTablesAsync(stack);
        var (beforeSavepoint, afterSavepoint, failed) = (NewKey(), NewKey(), NewKey());
        using var wire = await RawWire.OpenAsync(stack, NewSession());

        Assert.Equal('I', (await wire.QueryAsync("SELECT 1")).Status);
        Assert.Equal('T', (await wire.QueryAsync("BEGIN")).Status);
        Assert.Equal('T', (await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{failed}', 'x')")).Status);
        var denied = await wire.QueryAsync("DROP TABLE demo.customers");
        Assert.Equal(('E', "42501"), (denied.Status, denied.Error));
        var ignored = await wire.QueryAsync("SELECT 1");
        Assert.Equal(('E', "25P02"), (ignored.Status, ignored.Error));
        // COMMIT of a failed transaction rolls it back, and says so.
        var commit = await wire.QueryAsync("COMMIT");
        Assert.Equal(('I', "ROLLBACK", (string?)null), (commit.Status, commit.Tag, commit.Error));
        Assert.Equal(0, await NotesWith(failed));

        // ROLLBACK TO a savepoint recovers the transaction, keeping what came before the savepoint.
        await wire.QueryAsync("BEGIN");
        await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{beforeSavepoint}', 'kept')");
        Assert.Equal('T', (await wire.QueryAsync("SAVEPOINT before_drop")).Status);
        await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{afterSavepoint}', 'undone')");
        Assert.Equal('E', (await wire.QueryAsync("DROP TABLE demo.customers")).Status);
        Assert.Equal('T', (await wire.QueryAsync("ROLLBACK TO SAVEPOINT before_drop")).Status);
        var committed = await wire.QueryAsync("COMMIT");
        Assert.Equal(('I', "COMMIT"), (committed.Status, committed.Tag));
        Assert.Equal(1, await NotesWith(beforeSavepoint));
        Assert.Equal(0, await NotesWith(afterSavepoint));

        // An upstream error fails it too; ROLLBACK ends it.
        await wire.QueryAsync("BEGIN");
        var upstream = await wire.QueryAsync("SELECT no_such_column FROM demo.customers");
        Assert.Equal(('E', "42703"), (upstream.Status, upstream.Error));
        var rolledBack = await wire.QueryAsync("ROLLBACK");
        Assert.Equal(('I', "ROLLBACK"), (rolledBack.Status, rolledBack.Tag));
    }

    [Theory]
    [InlineData("BEGIN READ WRITE", "")]
    [InlineData("BEGIN", "SET TRANSACTION READ WRITE")]
    [InlineData("BEGIN", "SET LOCAL transaction_read_only = off")]
    [InlineData("BEGIN", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")]
    [InlineData("BEGIN", "SELECT set_config('transaction_read_only', 'off', true)")]
    [InlineData("BEGIN; SAVEPOINT s", "ROLLBACK TO SAVEPOINT s")]
    [InlineData("BEGIN; SAVEPOINT s", "RELEASE SAVEPOINT s")]
    public async Task Once_a_read_only_statement_ran_its_transaction_cannot_write_whatever_the_agent_tries(string begin, string lift)
    {
        await CreateTablesAsync(stack);
        var key = NewKey();
        // warehouse-tx has no settings rules: what is tried here is allowed by policy, and the database itself refuses.
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-tx");
        foreach (var statement in begin.Split("; ")) Assert.Null((await wire.QueryAsync(statement)).Error);
        var read = await wire.QueryAsync($"SELECT label FROM {Guarded} WHERE id = 1");
        Assert.Equal(('T', (string?)null), (read.Status, read.Error));
        if (lift.Length > 0) await wire.QueryAsync(lift); // refused by the database, or it changes nothing that counts
        var write = await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{key}', 'written after a read-only read')");
        Assert.NotNull(write.Error);
        Assert.StartsWith("25", write.Error); // 25006 read_only_sql_transaction, or 25P02 after a refused lift
        Assert.Equal('E', write.Status);
        await wire.QueryAsync("COMMIT");
        Assert.Equal(0, await NotesWith(key));
    }

    /// <summary>
    /// Transaction control runs on the pinned connection without the obligations' guard. PostgreSQL ends a line comment at
    /// a carriage return: text the gateway once read as BEGIN ran an INSERT unguarded, and a COMMIT it read as an ordinary
    /// statement ended the transaction upstream, so the guard of the write after it (SET TRANSACTION READ ONLY, a no-op
    /// outside a transaction block) did not hold. Either way the write must meet read-only.
    /// </summary>
    [Theory]
    [InlineData("", "-- x\r{insert} /*\nBEGIN */")]
    [InlineData("BEGIN", "-- x\rCOMMIT /*\n*/")]
    [InlineData("BEGIN", "BEGIN")]
    public async Task Transaction_control_that_postgresql_reads_differently_cannot_lift_read_only(string begin, string attack)
    {
        await CreateTablesAsync(stack);
        var key = NewKey();
        var insert = $"INSERT INTO {Notes} (id, note) VALUES ('{key}', 'unguarded')";
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-ro");
        if (begin.Length > 0) Assert.Null((await wire.QueryAsync(begin)).Error);
        await wire.QueryAsync(attack.Replace("{insert}", insert));
        var write = await wire.QueryAsync(insert);
        Assert.Equal("25006", write.Error); // read_only_sql_transaction
        await wire.QueryAsync("ROLLBACK");
        Assert.Equal(0, await NotesWith(key));
    }

    /// <summary>
    /// Each open transaction holds a connection of the gateway's pool: past the cap a BEGIN is refused (53300) instead of
    /// the pool running dry for every other agent, statements on their own still run, and a transaction ending frees one.
    /// </summary>
    [Fact]
    public async Task Open_transactions_are_capped_so_they_cannot_take_the_whole_pool()
    {
        var open = new List<RawWire>();
        try
        {
            RawWire.Answer refused;
            while (true)
            {
                var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-tx");
                open.Add(wire);
                var begun = await wire.QueryAsync("BEGIN");
                if (begun.Error is not null) { refused = begun; break; }
                Assert.True(open.Count <= PortcullisStack.WireMaxOpenTransactions, "BEGIN past the cap was taken");
            }
            Assert.Equal(("53300", 'I'), (refused.Error, refused.Status));
            Assert.Null((await open[^1].QueryAsync("SELECT 1")).Error); // a statement on its own still gets a connection
            Assert.Equal('I', (await open[0].QueryAsync("ROLLBACK")).Status);
            Assert.Equal('T', (await open[^1].QueryAsync("BEGIN")).Status);
        }
        finally
        {
            foreach (var wire in open) wire.Dispose();
            await WaitUntilTransactionsAreGivenBackAsync(PortcullisStack.AgentClient, "warehouse-tx");
        }
    }

    /// <summary>
    /// After a test that filled a cap: the gateway learns on its own time that the test's sockets closed, so until then
    /// it still counts their transactions, and the next test of the collection would find the identity at its cap (53300
    /// on its first BEGIN). Waits until the agent can hold as many transactions as the cap again, each ended by ROLLBACK
    /// (given back before the answer comes, so these probes leave nothing counted behind them).
    /// </summary>
    private async Task WaitUntilTransactionsAreGivenBackAsync(string agent, string database = "warehouse")
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var probes = new List<RawWire>();
            string? refused = null;
            try
            {
                foreach (var _ in Enumerable.Range(0, PortcullisStack.WireMaxOpenTransactions))
                {
                    var probe = await RawWire.OpenAsync(stack, NewSession(), database, agent: agent);
                    probes.Add(probe);
                    if ((await probe.QueryAsync("BEGIN")).Error is { } error) { refused = error; break; }
                }
                foreach (var probe in probes) await probe.QueryAsync("ROLLBACK");
            }
            finally
            {
                foreach (var probe in probes) probe.Dispose();
            }
            if (refused is null) return;
            Assert.True(DateTime.UtcNow < deadline, $"the gateway still counts closed transactions of {agent} after 30 s ({refused})");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task On_a_read_only_connection_a_transaction_opens_and_reads_and_its_writes_are_refused_by_the_database()
    {
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-ro");
        Assert.Equal('T', (await wire.QueryAsync("BEGIN")).Status);
        Assert.Null((await wire.QueryAsync("SELECT count(*) FROM demo.customers")).Error);
        var write = await wire.QueryAsync("UPDATE demo.customers SET country = country WHERE id = 1");
        Assert.Equal(('E', "25006"), (write.Status, write.Error)); // read_only_sql_transaction
        Assert.Equal('I', (await wire.QueryAsync("ROLLBACK")).Status);
    }

    [Fact]
    public async Task Obligations_are_read_only_per_statement_before_the_first_read_only_one()
    {
        await CreateTablesAsync(stack);
        var key = NewKey();
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-tx");
        await wire.QueryAsync("BEGIN");
        Assert.Null((await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{key}', 'before the read')")).Error);
        Assert.Null((await wire.QueryAsync($"SELECT label FROM {Guarded}")).Error);
        Assert.Equal("COMMIT", (await wire.QueryAsync("COMMIT")).Tag);
        Assert.Equal(1, await NotesWith(key));
    }

    [Fact]
    public async Task A_connection_that_ends_mid_transaction_is_rolled_back_upstream_and_its_pooled_connection_reset()
    {
        await CreateTablesAsync(stack);
        var key = NewKey();
        int backend;
        var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-tx");
        using (wire)
        {
            await wire.QueryAsync("BEGIN");
            await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{key}', 'never committed')");
            backend = int.Parse((await wire.QueryAsync("SELECT pg_backend_pid()")).Rows.Single());
            await wire.QueryAsync("PREPARE wire_tx_leftover AS SELECT 1"); // session state that outlives a rollback
        } // the socket closes without a Terminate, as a client that dies

        await using var admin = new NpgsqlConnection(stack.AdminConnectionString);
        await admin.OpenAsync();
        await using var state = new NpgsqlCommand("SELECT state, query FROM pg_stat_activity WHERE pid = $1", admin);
        state.Parameters.AddWithValue(backend);
        (string? State, string? Query) seen = default;
        for (var attempt = 0; attempt < 100; attempt++)
        {
            await using (var reader = await state.ExecuteReaderAsync())
                seen = await reader.ReadAsync() ? (reader.GetString(0), reader.GetString(1)) : (null, null);
            if (seen.State is null || (seen.State == "idle" && seen.Query == "DISCARD ALL")) break;
            await Task.Delay(100);
        }
        // Back in the pool idle, reset (DISCARD ALL drops the prepared statement), or closed: never left in the transaction.
        Assert.True(seen.State is null || (seen.State == "idle" && seen.Query == "DISCARD ALL"), $"backend {backend}: {seen}");
        Assert.Equal(0, await NotesWith(key));
    }

    [Fact]
    public async Task A_transaction_left_idle_past_the_limit_is_rolled_back_and_the_connection_closed_with_25P03()
    {
        await CreateTablesAsync(stack);
        var key = NewKey();
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-tx");
        await wire.QueryAsync("BEGIN");
        await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{key}', 'left idle')");
        // The gateway speaks first once the limit has passed: FATAL, then it closes the connection.
        var closing = await wire.ReadUntilClosedAsync(PortcullisStack.WireIdleInTransactionTimeout * 4);
        Assert.Contains(closing, m => m.Type == 'E' && m.Text.Contains("25P03") && m.Text.Contains("FATAL"));
        Assert.Equal(0, await NotesWith(key));
    }

    [Fact]
    public async Task A_transaction_kept_busy_is_still_rolled_back_and_closed_with_25P04_past_its_longest_duration()
    {
        await CreateTablesAsync(stack);
        var key = NewKey();
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse-tx");
        await wire.QueryAsync("BEGIN");
        await wire.QueryAsync($"INSERT INTO {Notes} (id, note) VALUES ('{key}', 'kept busy')");
        // Never idle past the idle limit until less than it is left of the longest duration; then the gateway ends the
        // transaction when that runs out (25P04), before the idle limit would (25P03).
        var busy = System.Diagnostics.Stopwatch.StartNew();
        while (busy.Elapsed < PortcullisStack.WireMaxTransactionDuration - PortcullisStack.WireIdleInTransactionTimeout / 2)
        {
            Assert.Equal('T', (await wire.QueryAsync("SELECT 1")).Status);
            await Task.Delay(PortcullisStack.WireIdleInTransactionTimeout / 4);
        }
        var closing = await wire.ReadUntilClosedAsync(PortcullisStack.WireIdleInTransactionTimeout * 4);
        Assert.True(closing.Any(m => m.Type == 'E' && m.Text.Contains("25P04") && m.Text.Contains("FATAL")),
            string.Join(" | ", closing.Select(m => $"{m.Type}:{m.Text}")));
        Assert.Equal(0, await NotesWith(key));
    }

    /// <summary>A hand-written protocol client, to see the ReadyForQuery status byte that drivers keep to themselves.</summary>
    [Fact]
    public async Task The_masked_view_check_is_not_fooled_by_an_operator_the_agents_search_path_puts_before_pg_catalog()
    {
        // With the shadowing = first in search_path, a check whose joins wrote a bare = would find no dependencies and
        // pass a view over a masked column as clean.
        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            await DemoDatabase.CreateShadowingOperatorAsync(connection);
            await Run(connection, $"""
                CREATE TABLE IF NOT EXISTS demo.service_accounts (id int PRIMARY KEY, password text NOT NULL);
                INSERT INTO demo.service_accounts VALUES (1, 'Pw-9f3kQz7Lm2') ON CONFLICT DO NOTHING;
                CREATE OR REPLACE VIEW e2e_shadow.logins AS SELECT id, password AS login_hint FROM demo.service_accounts;
                GRANT SELECT ON e2e_shadow.logins TO "{DemoDatabase.AgentRole}";
                """);
        }
        using var wire = await RawWire.OpenAsync(stack, NewSession(), "warehouse");
        Assert.Equal('T', (await wire.QueryAsync("BEGIN")).Status);
        var path = await wire.QueryAsync("SET search_path = e2e_shadow, pg_catalog, demo");
        Assert.Null(path.Error); // the premise: policy lets the agent set it (it then vets unqualified names more strictly)
        var read = await wire.QueryAsync("SELECT login_hint FROM e2e_shadow.logins");
        Assert.Equal("42501", read.Error);
        Assert.Empty(read.Rows);
        await wire.QueryAsync("ROLLBACK");
    }

    private sealed class RawWire : IDisposable
    {
        private readonly TcpClient _client;
        private readonly Stream _stream;
        private readonly int _port;
        private int _processId, _secret;

        private RawWire(TcpClient client, Stream stream, int port) => (_client, _stream, _port) = (client, stream, port);

        public sealed record Answer(char Status, string? Error, string? Tag, IReadOnlyList<string> Rows);

        public static async Task<RawWire> OpenAsync(PortcullisStack stack, string session, string database = "warehouse",
            int? port = null, string agent = PortcullisStack.AgentClient)
        {
            var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port ?? stack.WirePort);
            var raw = client.GetStream();
            var request = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(request, 8);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
            await raw.WriteAsync(request);
            Assert.Equal((byte)'S', (byte)raw.ReadByte());
            var tls = new SslStream(raw, false, (_, _, _, _) => true);
            await tls.AuthenticateAsClientAsync("127.0.0.1");
            var wire = new RawWire(client, tls, port ?? stack.WirePort);
            var startup = new List<byte> { 0, 3, 0, 0 };
            foreach (var text in new[] { "user", "agent", "database", database, "options", $"-c portcullis.session={session}", "" })
                startup.AddRange([.. Encoding.UTF8.GetBytes(text), 0]);
            var packet = new byte[startup.Count + 4];
            BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
            startup.CopyTo(packet, 4);
            await tls.WriteAsync(packet);
            Assert.Equal('R', (await wire.ReadAsync(TimeSpan.FromSeconds(30))).Type);
            await wire.SendAsync('p', await stack.TokenFor(agent));
            while (true)
            {
                var (type, payload) = await wire.ReadAsync(TimeSpan.FromSeconds(30));
                if (type == 'K') (wire._processId, wire._secret) = (BinaryPrimitives.ReadInt32BigEndian(payload), BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(4)));
                if (type == 'Z') return wire;
            }
        }

        /// <summary>A simple query sent without waiting for its answer (read it with <see cref="AnswerAsync"/>).</summary>
        public Task SendQueryAsync(string sql) => SendAsync('Q', sql);

        /// <summary>A CancelRequest with this connection's key, on a connection of its own, as drivers send one.</summary>
        public async Task CancelAsync()
        {
            using var cancel = new TcpClient();
            await cancel.ConnectAsync("127.0.0.1", _port);
            var request = new byte[16];
            BinaryPrimitives.WriteInt32BigEndian(request, 16);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877102);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(8), _processId);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(12), _secret);
            await cancel.GetStream().WriteAsync(request);
            // The gateway closes the connection once it has acted on the request: the read ends with nothing read.
            Assert.Equal(0, await cancel.GetStream().ReadAtLeastAsync(new byte[1], 1, throwOnEndOfStream: false));
        }

        /// <summary>Extended-protocol messages sent as one batch (Parse, Bind, Describe, Execute for each statement) with one Sync at the end.</summary>
        public async Task<Answer> BatchAsync(params string[] statements)
        {
            foreach (var sql in statements)
            {
                await SendAsync('P', "\0" + sql + "\0\0"); // unnamed; no parameter types
                await SendAsync('B', "\0\0\0\0\0\0\0"); // unnamed portal and statement; no formats, parameters or result formats
                await SendAsync('D', "P"); // the unnamed portal
                await SendAsync('E', "\0\0\0\0"); // all rows
            }
            await SendAsync('S', null);
            return await AnswerAsync();
        }

        /// <summary>A message; <paramref name="text"/> is sent with a terminating zero, as a query or password is (null: no payload).</summary>
        private async Task SendAsync(char type, string? text)
        {
            var payload = text is null ? [] : Encoding.UTF8.GetBytes(text + "\0");
            var message = new byte[5 + payload.Length];
            message[0] = (byte)type;
            BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), payload.Length + 4);
            payload.CopyTo(message, 5);
            await _stream.WriteAsync(message);
        }

        private async Task<(char Type, byte[] Payload)> ReadAsync(TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            var header = new byte[5];
            await _stream.ReadExactlyAsync(header, cancel.Token);
            var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            await _stream.ReadExactlyAsync(payload, cancel.Token);
            return ((char)header[0], payload);
        }

        /// <summary>A simple query: the first error's SQLSTATE, the last command tag, the first column of each row, and the status.</summary>
        public async Task<Answer> QueryAsync(string sql)
        {
            await SendAsync('Q', sql);
            return await AnswerAsync();
        }

        /// <summary>The answer up to ReadyForQuery: the first error's SQLSTATE, the last command tag, the first column of each row, and the status.</summary>
        public async Task<Answer> AnswerAsync()
        {
            string? error = null, tag = null;
            var rows = new List<string>();
            while (true)
            {
                var (type, payload) = await ReadAsync(TimeSpan.FromSeconds(60));
                switch (type)
                {
                    case 'E':
                        error ??= Field(payload, 'C');
                        break;
                    case 'C':
                        tag = Encoding.UTF8.GetString(payload).TrimEnd('\0');
                        break;
                    case 'D':
                        var length = BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(2));
                        rows.Add(length < 0 ? "" : Encoding.UTF8.GetString(payload, 6, length));
                        break;
                    case 'Z':
                        return new Answer((char)payload[0], error, tag, rows);
                }
            }
        }

        /// <summary>What the gateway sends, unasked, until it closes the connection.</summary>
        public async Task<List<(char Type, string Text)>> ReadUntilClosedAsync(TimeSpan timeout)
        {
            var messages = new List<(char, string)>();
            try
            {
                while (true)
                {
                    var (type, payload) = await ReadAsync(timeout);
                    messages.Add((type, Encoding.UTF8.GetString(payload)));
                }
            }
            catch (Exception ex) when (ex is EndOfStreamException or IOException)
            {
                return messages;
            }
        }

        private static string? Field(byte[] payload, char code)
        {
            var at = 0;
            while (at < payload.Length && payload[at] != 0)
            {
                var end = Array.IndexOf(payload, (byte)0, at + 1);
                if ((char)payload[at] == code) return Encoding.UTF8.GetString(payload, at + 1, end - at - 1);
                at = end + 1;
            }
            return null;
        }

        public void Dispose()
        {
            _stream.Dispose();
            _client.Dispose();
        }
    }
}
