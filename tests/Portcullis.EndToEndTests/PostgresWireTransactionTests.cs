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

        var timeline = await stack.TimelineAsync(session, t => Received(t).Count(a => TransactionOf(a) is not null) >= 6);
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
        // A schema the agent may use, holding an = on oids that is never true: with it first in search_path, a check whose
        // joins wrote a bare = would find no dependencies and pass a view over a masked column as clean.
        // Its own schema, so the demo schema's listing (which other tests read through a max_rows cap) is unchanged.
        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            await Run(connection, $"""
                CREATE SCHEMA IF NOT EXISTS e2e_shadow;
                CREATE OR REPLACE FUNCTION e2e_shadow.never(oid, oid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
                DO $$ BEGIN
                    CREATE OPERATOR e2e_shadow.= (leftarg = oid, rightarg = oid, function = e2e_shadow.never);
                EXCEPTION WHEN duplicate_function OR duplicate_object THEN NULL; END $$;
                CREATE TABLE IF NOT EXISTS demo.service_accounts (id int PRIMARY KEY, password text NOT NULL);
                INSERT INTO demo.service_accounts VALUES (1, 'Pw-9f3kQz7Lm2') ON CONFLICT DO NOTHING;
                CREATE OR REPLACE VIEW e2e_shadow.logins AS SELECT id, password AS login_hint FROM demo.service_accounts;
                GRANT USAGE ON SCHEMA e2e_shadow TO "{DemoDatabase.AgentRole}";
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

        private RawWire(TcpClient client, Stream stream) => (_client, _stream) = (client, stream);

        public sealed record Answer(char Status, string? Error, string? Tag, IReadOnlyList<string> Rows);

        public static async Task<RawWire> OpenAsync(PortcullisStack stack, string session, string database = "warehouse")
        {
            var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", stack.WirePort);
            var raw = client.GetStream();
            var request = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(request, 8);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
            await raw.WriteAsync(request);
            Assert.Equal((byte)'S', (byte)raw.ReadByte());
            var tls = new SslStream(raw, false, (_, _, _, _) => true);
            await tls.AuthenticateAsClientAsync("127.0.0.1");
            var wire = new RawWire(client, tls);
            var startup = new List<byte> { 0, 3, 0, 0 };
            foreach (var text in new[] { "user", "agent", "database", database, "options", $"-c portcullis.session={session}", "" })
                startup.AddRange([.. Encoding.UTF8.GetBytes(text), 0]);
            var packet = new byte[startup.Count + 4];
            BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
            startup.CopyTo(packet, 4);
            await tls.WriteAsync(packet);
            Assert.Equal('R', (await wire.ReadAsync(TimeSpan.FromSeconds(30))).Type);
            await wire.SendAsync('p', await stack.TokenFor(PortcullisStack.AgentClient));
            while ((await wire.ReadAsync(TimeSpan.FromSeconds(30))).Type != 'Z') { }
            return wire;
        }

        private async Task SendAsync(char type, string text)
        {
            var payload = Encoding.UTF8.GetBytes(text);
            var message = new byte[6 + payload.Length];
            message[0] = (byte)type;
            BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), payload.Length + 5);
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
