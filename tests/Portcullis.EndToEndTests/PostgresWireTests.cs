using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Npgsql;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The gateway as a PostgreSQL server, driven by unmodified clients (Npgsql, psql): the access token is the password,
/// the database name is the connection, and every statement meets policy, approval, masking and audit as on /sql.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PostgresWireTests(PortcullisStack stack)
{
    private static string NewSession() => "e2e-wire-" + Guid.NewGuid().ToString("N")[..10];

    private Task<NpgsqlConnection> Connect(string session, string database = "warehouse", string? password = null) =>
        WireAgent.ConnectAsync(stack, session, database, password);

    private static JsonElement[] Received(JsonElement timeline) =>
        [.. timeline.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("type").GetString() == "RequestReceived")
            .Select(e => e.GetProperty("data").GetProperty("action"))];

    [Fact]
    public async Task Npgsql_reads_masked_rows_with_their_table_origin_binds_parameters_and_the_timeline_lists_each_statement()
    {
        var session = NewSession();
        await using (var connection = await Connect(session))
        {
            await using (var command = new NpgsqlCommand("SELECT id, email FROM demo.customers ORDER BY id LIMIT 2", connection))
            await using (var reader = await command.ExecuteReaderAsync())
            {
                var schema = reader.GetColumnSchema();
                Assert.NotEqual(0u, schema[1].TableOID); // the real table, as PostgreSQL names it
                Assert.Equal((short)3, schema[1].ColumnAttributeNumber); // id, name, email
                Assert.True(await reader.ReadAsync());
                Assert.Equal(1, Convert.ToInt64(reader.GetValue(0)));
                Assert.Equal("[EMAIL]", reader.GetString(1));
                Assert.True(await reader.ReadAsync());
                Assert.False(await reader.ReadAsync());
            }

            await using (var command = new NpgsqlCommand("SELECT email, name FROM demo.customers WHERE id = $1", connection))
            {
                command.Parameters.AddWithValue(2); // sent in binary, as Npgsql sends an int
                await using var reader = await command.ExecuteReaderAsync();
                Assert.True(await reader.ReadAsync());
                Assert.Equal("[EMAIL]", reader.GetString(0));
                Assert.DoesNotContain("@", reader.GetString(1));
            }
        }

        var timeline = await stack.TimelineAsync(session, t => Received(t).Length == 2
            && t.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("type").GetString() == "RequestCompleted") == 2);
        var actions = Received(timeline);
        Assert.True(actions.Length == 2, string.Join(" | ", actions.Select(a => a.ToString())));
        Assert.Equal("SELECT id, email FROM demo.customers ORDER BY id LIMIT 2", actions[0].GetProperty("sql").GetString());
        Assert.Equal("SELECT email, name FROM demo.customers WHERE id = $1", actions[1].GetProperty("sql").GetString());
        Assert.Equal("[\"2\"]", actions[1].GetProperty("parameters").GetString());
        Assert.Equal(PortcullisStack.AgentClient, timeline.GetProperty("subject").GetString());
        Assert.DoesNotContain("@example.com", timeline.ToString());
    }

    [Fact]
    public async Task Copy_to_program_and_drop_table_are_42501_errors_naming_the_rule_and_nothing_runs()
    {
        var session = NewSession();
        await using var connection = await Connect(session);
        await using (var copy = new NpgsqlCommand("COPY (SELECT 1) TO PROGRAM 'id'", connection))
        {
            var denied = await Assert.ThrowsAsync<PostgresException>(() => copy.ExecuteNonQueryAsync());
            Assert.Equal("42501", denied.SqlState);
            Assert.Contains("sql-no-program", denied.MessageText);
            Assert.Contains("COPY ... PROGRAM runs a shell command", denied.MessageText);
        }
        await using (var drop = new NpgsqlCommand("DROP TABLE demo.customers", connection))
        {
            var denied = await Assert.ThrowsAsync<PostgresException>(() => drop.ExecuteNonQueryAsync());
            Assert.Equal("42501", denied.SqlState);
            Assert.Contains("sql-no-ddl", denied.MessageText);
        }
        // The connection is still usable after a denial, and the table is still there.
        await using (var count = new NpgsqlCommand("SELECT count(*) FROM demo.customers", connection))
            Assert.True(Convert.ToInt64(await count.ExecuteScalarAsync()) > 0);

        var timeline = await stack.TimelineAsync(session, t => Received(t).Length == 3
            && t.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("type").GetString() == "RequestCompleted") == 3);
        Assert.Single(timeline.GetProperty("events").EnumerateArray(), e => e.GetProperty("type").GetString() == "RequestForwarded");
    }

    [Fact]
    public async Task Npgsql_reads_numeric_date_timestamp_int_bool_and_text_in_binary()
    {
        await using var connection = await Connect(NewSession());
        // Npgsql asks for every column of a type it knows in binary.
        await using var command = new NpgsqlCommand(
            "SELECT 12.3456::numeric, date '2024-02-29', timestamp '2024-02-29 13:45:01.25', timestamptz '2024-02-29 13:45:01+02', " +
            "42, true, 'text'::text", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.Equal(12.3456m, reader.GetDecimal(0));
        Assert.Equal(new DateOnly(2024, 2, 29), reader.GetFieldValue<DateOnly>(1));
        Assert.Equal(new DateTime(2024, 2, 29, 13, 45, 1, 250), reader.GetDateTime(2));
        Assert.Equal(new DateTime(2024, 2, 29, 11, 45, 1, DateTimeKind.Utc), reader.GetFieldValue<DateTime>(3));
        Assert.Equal(42, reader.GetInt32(4));
        Assert.True(reader.GetBoolean(5));
        Assert.Equal("text", reader.GetString(6));
    }

    [Fact]
    public async Task Upstream_errors_keep_their_sqlstate()
    {
        await using var connection = await Connect(NewSession());
        await using var command = new NpgsqlCommand("SELECT no_such_column FROM demo.customers", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteReaderAsync());
        Assert.Equal("42703", error.SqlState);
    }

    [Fact]
    public async Task A_statement_needing_approval_names_the_approval_and_runs_once_approved_and_presented_with_set()
    {
        const string payments = "SELECT id, card_number, amount FROM demo.payments WHERE id <= 3 ORDER BY id";
        var session = NewSession();
        await using var connection = await Connect(session);
        await using var command = new NpgsqlCommand(payments, connection);
        var pending = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteReaderAsync());
        Assert.Equal("55000", pending.SqlState);
        Assert.Contains("approve-payments", pending.MessageText);
        var approvalId = System.Text.RegularExpressions.Regex.Match(pending.MessageText, "approval id ([0-9a-f-]{36})").Groups[1].Value;
        Assert.Contains($"SET portcullis.approval = '{approvalId}'", pending.Hint);

        using (var approve = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post, $"approvals/{approvalId}/approve",
                   new { comment = "wire test" }))
        using (var decided = await stack.Approval.SendAsync(approve))
            Assert.Equal(HttpStatusCode.OK, decided.StatusCode);

        await using (var set = new NpgsqlCommand($"SET portcullis.approval = '{approvalId}'", connection))
            await set.ExecuteNonQueryAsync();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            var rows = 0;
            while (await reader.ReadAsync())
            {
                rows++;
                Assert.DoesNotContain("4111111111111111", reader.GetValue(1)?.ToString() ?? "");
            }
            Assert.Equal(3, rows);
        }
        // The approval covered one run: the same statement asks again.
        var again = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteReaderAsync());
        Assert.Equal("55000", again.SqlState);
    }

    [Fact]
    public async Task A_cancel_request_cancels_the_running_statement_upstream()
    {
        await using var connection = await Connect(NewSession());
        await using var command = new NpgsqlCommand("SELECT pg_sleep(60) AS slept_for_the_cancel_test", connection);
        var running = command.ExecuteNonQueryAsync();
        // The statement is running upstream once the database shows it.
        await using (var admin = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var seen = new NpgsqlCommand(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%slept_for_the_cancel_test%' AND pid <> pg_backend_pid()", admin);
            while (Convert.ToInt64(await seen.ExecuteScalarAsync()) == 0)
            {
                Assert.False(running.IsCompleted, "the statement ended before it was cancelled");
                await Task.Delay(100);
            }
        }
        command.Cancel(); // Npgsql's CancelRequest, on a connection of its own
        var cancelled = await Assert.ThrowsAnyAsync<Exception>(() => running);
        var error = cancelled as PostgresException ?? cancelled.InnerException as PostgresException;
        Assert.Equal("57014", error?.SqlState);
    }

    [Fact]
    public async Task A_wrong_token_is_refused_with_28P01_saying_how_to_get_one()
    {
        var refused = await Assert.ThrowsAsync<PostgresException>(() => Connect(NewSession(), password: "not-a-token"));
        Assert.Equal("28P01", refused.SqlState);
        Assert.Contains("OIDC access token", refused.MessageText);
        Assert.Contains(stack.Issuer.ToString(), refused.MessageText);
    }

    [Fact]
    public async Task An_unknown_database_is_refused_after_authentication()
    {
        var refused = await Assert.ThrowsAsync<PostgresException>(() => Connect(NewSession(), database: "ops"));
        Assert.Equal("3D000", refused.SqlState);
    }

    [Fact]
    public async Task Psql_shows_masked_rows_and_a_denial_with_the_rule()
    {
        var session = NewSession();
        var (output, errors, exit) = await Psql(session,
            "SELECT id, email FROM demo.customers ORDER BY id LIMIT 2; COPY (SELECT 1) TO PROGRAM 'id'");
        Assert.True(output.Contains("[EMAIL]"), $"psql printed: {output} {errors}");
        Assert.DoesNotContain("@example.com", output);
        Assert.Contains("ERROR:  Denied by policy rule 'sql-no-program'", errors);
        Assert.NotEqual(0, exit);

        // psql sends the two as one query: one implicit transaction, rolled back at the denial, as PostgreSQL would.
        var timeline = await stack.TimelineAsync(session, t => Received(t).Length == 4);
        Assert.Equal(["BEGIN", "SELECT id, email FROM demo.customers ORDER BY id LIMIT 2", "COPY (SELECT 1) TO PROGRAM 'id'", "ROLLBACK"],
            Received(timeline).Select(a => a.GetProperty("sql").GetString()));
    }

    [Fact]
    public async Task What_drivers_send_on_connect_and_psqls_catalog_queries_pass_the_demo_rules()
    {
        var (output, errors, exit) = await Psql(NewSession(),
            "SELECT version(); SHOW standard_conforming_strings; SET search_path = demo; SELECT current_schema()");
        Assert.True(exit == 0, errors);
        Assert.Contains("PostgreSQL", output);
        // The setting holds for the statements after it, as on PostgreSQL (they are judged with it).
        Assert.Contains(" demo", output);
        (output, errors, exit) = await Psql(NewSession(), "\\dt demo.*");
        Assert.True(exit == 0, errors);
        Assert.Contains("customers", output);
    }

    [Fact]
    public async Task Psycopg_asyncpg_and_sqlalchemy_reflection_list_tables_read_masked_emails_and_get_denials_as_42501()
    {
        await PostgresWireTransactionTests.CreateTablesAsync(stack);
        var session = NewSession();
        var folder = Path.Combine(PortcullisStack.RepositoryRoot, "tests", "wire-clients");
        var result = await RunClientAsync("/usr/bin/python3", Path.Combine(folder, "python_clients.py"), folder, session);

        // psycopg's default mode and a SQLAlchemy session: rollback() undoes, commit() keeps.
        Assert.Equal("INTRANS", result.GetProperty("psycopg_in_transaction").GetString());
        Assert.Equal("IDLE", result.GetProperty("psycopg_after_commit").GetString());
        foreach (var client in new[] { "psycopg", "sqlalchemy" })
        {
            Assert.Equal(0, await NotesWith($"{session}-{client}-undone"));
            Assert.Equal(1, await NotesWith($"{session}-{client}-kept"));
        }

        var rows = result.GetProperty("psycopg_rows").EnumerateArray().ToArray();
        Assert.Equal(2, rows.Length);
        Assert.Equal("[EMAIL]", rows[0][1].GetString());
        Assert.Equal("42501", result.GetProperty("psycopg_drop").GetString());
        Assert.Contains("sql-no-ddl", result.GetProperty("psycopg_drop_message").GetString());
        var tables = result.GetProperty("sqlalchemy_tables").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.Contains("customers", tables);
        Assert.Contains("email", result.GetProperty("sqlalchemy_columns").EnumerateArray().Select(c => c.GetString()));
        Assert.All(result.GetProperty("sqlalchemy_emails").EnumerateArray(), e => Assert.Equal("[EMAIL]", e.GetString()));

        var asyncpgRows = result.GetProperty("asyncpg_rows").EnumerateArray().ToArray();
        Assert.Equal(2, asyncpgRows.Length);
        Assert.Equal(1, asyncpgRows[0][0].GetInt32());
        Assert.Equal("[EMAIL]", asyncpgRows[0][1].GetString());
        Assert.Equal(["int4"], result.GetProperty("asyncpg_parameters").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(["customers"], result.GetProperty("asyncpg_columns").EnumerateArray().Select(t => t.GetString()));
        Assert.True(result.GetProperty("asyncpg_count").GetInt64() > 0);
        Assert.Equal("42501", result.GetProperty("asyncpg_drop").GetString());
        Assert.Contains("sql-no-ddl", result.GetProperty("asyncpg_drop_message").GetString());

        var timeline = await stack.TimelineAsync(session, t => Received(t).Any(a => a.GetProperty("sql").GetString()!.Contains("LIMIT 2"))
            && Received(t).Count(a => a.GetProperty("sql").GetString() == "DROP TABLE demo.customers") == 2);
        // asyncpg's describes are actions of their own, decided and recorded: the denied DROP never reached the database.
        Assert.Contains(Received(timeline), a => a.GetProperty("sql").GetString() == "DROP TABLE demo.customers"
            && a.TryGetProperty("method", out var method) && method.GetString() == "DESCRIBE");
        Assert.Contains(Received(timeline), a => a.GetProperty("sql").GetString() == "DROP TABLE demo.customers");
        Assert.DoesNotContain("@example.com", timeline.ToString());
    }

    [Fact]
    public async Task Node_postgres_and_langchain_sql_database_list_tables_read_masked_emails_and_get_denials_as_42501()
    {
        var folder = Path.Combine(PortcullisStack.RepositoryRoot, "tests", "wire-clients");
        await NpmCi(folder);
        await PostgresWireTransactionTests.CreateTablesAsync(stack);
        var session = NewSession();
        var result = await RunClientAsync("node", Path.Combine(folder, "node_clients.mjs"), folder, session);

        var rows = result.GetProperty("pg_rows").EnumerateArray().ToArray();
        Assert.Equal(2, rows.Length);
        Assert.Equal("[EMAIL]", rows[0][1].GetString());
        Assert.Equal("42501", result.GetProperty("pg_copy").GetProperty("code").GetString());
        Assert.Contains("sql-no-program", result.GetProperty("pg_copy").GetProperty("message").GetString());
        Assert.Equal("42501", result.GetProperty("pg_drop").GetProperty("code").GetString());
        Assert.Contains("sql-no-ddl", result.GetProperty("pg_drop").GetProperty("message").GetString());

        // node-postgres's transactions behave as PostgreSQL's.
        Assert.Equal(1, result.GetProperty("pg_tx_seen_inside").GetInt32());
        Assert.Equal(0, result.GetProperty("pg_tx_after_rollback").GetInt32());
        Assert.Equal(1, result.GetProperty("pg_tx_after_commit").GetInt32());
        Assert.Equal("22012", result.GetProperty("pg_tx_error").GetProperty("code").GetString());
        Assert.Equal("25P02", result.GetProperty("pg_tx_ignored").GetProperty("code").GetString());
        Assert.Equal(0, result.GetProperty("pg_tx_after_failure").GetInt32());
        Assert.Equal((0L, 1L, 0L), (await NotesWith($"{session}-undone"), await NotesWith($"{session}-kept"), await NotesWith($"{session}-failed")));

        var tables = result.GetProperty("langchain_tables").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.Contains("customers", tables);
        Assert.Contains("payments", tables);
        var info = result.GetProperty("langchain_table_info").GetString()!;
        Assert.Contains("CREATE TABLE \"demo\".\"customers\"", info);
        Assert.Contains("[EMAIL]", info); // the sample rows, masked
        var run = result.GetProperty("langchain_run").GetString()!;
        Assert.Contains("[EMAIL]", run);
        Assert.Equal("42501", result.GetProperty("langchain_drop").GetProperty("code").GetString());
        Assert.DoesNotContain("@example.com", result.GetRawText());

        var timeline = await stack.TimelineAsync(session, t => Received(t).Count(a => a.GetProperty("sql").GetString() == "DROP TABLE demo.customers") == 2);
        Assert.Contains(Received(timeline), a => a.GetProperty("sql").GetString() == "COPY (SELECT 1) TO PROGRAM 'id'");
        Assert.DoesNotContain("@example.com", timeline.ToString());
    }

    private async Task<long> NotesWith(string key)
    {
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM demo.wire_tx_notes WHERE id = $1", connection);
        command.Parameters.AddWithValue(key);
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }

    /// <summary>tests/wire-clients' npm packages (pg, typeorm, LangChain.js), installed with npm ci when missing.</summary>
    /// <summary>
    /// Runs an unmodified client program against the wire port as the agent (PGHOST, PGPORT, the token as PGPASSWORD,
    /// the session to name) and reads the JSON it prints; a non-zero exit fails with what it wrote to stderr.
    /// </summary>
    private async Task<JsonElement> RunClientAsync(string program, string script, string folder, string session)
    {
        var start = new ProcessStartInfo(program)
        {
            ArgumentList = { script },
            WorkingDirectory = folder,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PGHOST"] = "127.0.0.1";
        start.Environment["PGPORT"] = stack.WirePort.ToString();
        start.Environment["PGPASSWORD"] = await stack.TokenFor(PortcullisStack.AgentClient);
        start.Environment["PORTCULLIS_SESSION"] = session;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await errors);
        return JsonDocument.Parse(await output).RootElement;
    }

    private static async Task NpmCi(string folder)
    {
        if (Directory.Exists(Path.Combine(folder, "node_modules", "pg")) && Directory.Exists(Path.Combine(folder, "node_modules", "@langchain", "classic")))
            return;
        var start = new ProcessStartInfo("npm") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "ci", "--no-audit", "--no-fund" }) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(cancel.Token);
        Assert.True(process.ExitCode == 0, $"npm ci in tests/wire-clients failed: {await stderr}");
    }

    private async Task<(string Output, string Errors, int Exit)> Psql(string session, string sql)
    {
        var start = new ProcessStartInfo("psql")
        {
            ArgumentList =
            {
                $"host=127.0.0.1 port={stack.WirePort} dbname=warehouse user=agent sslmode=require options='-c portcullis.session={session}'",
                "-v", "ON_ERROR_STOP=1", "-X", "-c", sql,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PGPASSWORD"] = await stack.TokenFor(PortcullisStack.AgentClient);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (await output, await errors, process.ExitCode);
    }
}
