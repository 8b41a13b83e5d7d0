using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The gateway judges a statement's text assuming PostgreSQL's default session, then runs it, and its own catalogue
/// queries, on a connection whose state the agent may have changed. Through /sql, MCP's sql_query and the wire port:
/// settings that change how the server reads a statement are refused, the gateway's catalogue lookups resolve in
/// pg_catalog whatever search_path the agent set, and no session state crosses from one identity's statement to
/// another's through the gateway's pool.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SqlSessionStateTests(PortcullisStack stack)
{
    /// <summary>
    /// One literal to libpg_query (standard strings); with standard_conforming_strings off, a read of the masked name
    /// (in a subquery, so without its origin) to the server.
    /// </summary>
    private const string LiteralOrRead = "SELECT 'a\\'' AS x, (SELECT name FROM demo.customers ORDER BY id LIMIT 1) AS y -- '";

    private const string StringsOff = "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'";

    private static string NewSession() => "e2e-sqlstate-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<(HttpStatusCode Status, JsonElement Body)> Sql(string sql, string connection = "warehouse",
        string client = PortcullisStack.AgentClient)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = await stack.AgentRequest(HttpMethod.Post, $"sql/{connection}", NewSession(), client);
            request.Content = JsonContent.Create(new { sql });
            using var response = await stack.Gateway.SendAsync(request);
            // 503 says "nothing ran, retry later" (a cold or busy service past the decision deadline on a shared machine).
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 3) continue;
            return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
        }
    }

    private async Task<string[]> RawNamesAsync()
    {
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT name FROM demo.customers", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var names = new List<string>();
        while (await reader.ReadAsync()) names.Add(reader.GetString(0));
        return [.. names];
    }

    private static async Task<List<string?>> ReadColumnAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string?>();
        while (await reader.ReadAsync()) values.Add(reader.IsDBNull(reader.FieldCount - 1) ? null : reader.GetValue(reader.FieldCount - 1).ToString());
        return values;
    }

    private static async Task Run(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task Strings_the_server_would_read_otherwise_cannot_be_switched_on_through_pg_settings()
    {
        var raw = await RawNamesAsync();

        var (status, body) = await Sql(StringsOff + "; " + LiteralOrRead);
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("sql-no-settings", body.GetProperty("rule").GetString());
        Assert.DoesNotContain(raw, name => body.GetRawText().Contains(name, StringComparison.Ordinal));

        var agent = await McpAgent.SharedSession(stack, "sql-session-state");
        var tool = await agent.CallAsync("sql_query", new Dictionary<string, object?> { ["connection"] = "warehouse", ["sql"] = StringsOff + "; " + LiteralOrRead });
        Assert.True(tool.IsError);
        Assert.StartsWith("Denied by policy rule 'sql-no-settings'", McpAgent.Text(tool));

        // On the wire, in a transaction: its statements share one upstream connection, so a setting would hold for the next.
        await using var wire = await WireAgent.ConnectAsync(stack, NewSession());
        await using (var transaction = await wire.BeginTransactionAsync())
        {
            var refused = await Assert.ThrowsAsync<PostgresException>(() => Run(wire, StringsOff));
            Assert.Equal("42501", refused.SqlState);
            await transaction.RollbackAsync();
        }
        await using (var transaction = await wire.BeginTransactionAsync())
        {
            var read = await ReadColumnAsync(wire, LiteralOrRead);
            // Read as the literal it is: the subquery never ran, so no name in any form.
            Assert.Equal(["a\\' AS x, (SELECT name FROM demo.customers ORDER BY id LIMIT 1) AS y -- "], read);
            await transaction.RollbackAsync();
        }
    }

    /// <summary>warehouse-tx has no settings rules: what refuses these is the policy's built-in rule.</summary>
    [Theory]
    [InlineData("SET standard_conforming_strings = off")]
    [InlineData("SET LOCAL standard_conforming_strings = off")]
    [InlineData("SELECT set_config('standard_conforming_strings', 'off', false)")]
    [InlineData("SELECT 1; SET standard_conforming_strings = off")]
    [InlineData(StringsOff)]
    public async Task On_a_connection_whose_rules_allow_it_the_built_in_rule_still_refuses_reading_strings_otherwise(string set)
    {
        await using var wire = await WireAgent.ConnectAsync(stack, NewSession(), "warehouse-tx");
        await using var transaction = await wire.BeginTransactionAsync();
        var refused = await Assert.ThrowsAsync<PostgresException>(() => Run(wire, set));
        Assert.Equal("42501", refused.SqlState);
        Assert.Contains("builtin:session-setting", refused.MessageText);
        await transaction.RollbackAsync();
        Assert.Equal(["on"], await ReadColumnAsync(wire, "SHOW standard_conforming_strings"));
    }

    [Theory]
    [InlineData("SET client_encoding = 'SJIS'")]
    [InlineData("SET NAMES 'BIG5'")]
    [InlineData("SELECT set_config('client_encoding', 'GBK', true)")]
    [InlineData("SET ROLE NONE")]
    [InlineData("SET app.tenant_id = '7'")]
    [InlineData("SELECT id, set_config('app.tenant_id', '7', false) FROM demo.customers LIMIT 1")]
    [InlineData("SELECT set_config('search_path', 'e2e_shadow, pg_catalog', false)")]
    public async Task Encodings_roles_and_custom_settings_are_refused_over_sql_and_the_wire_where_rules_allow_them(string set)
    {
        await using var wire = await WireAgent.ConnectAsync(stack, NewSession(), "warehouse-tx");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => Run(wire, set));
        Assert.Equal("42501", refused.SqlState);
        Assert.Contains("builtin:session-setting", refused.MessageText);
        // What drivers and tools set still works there.
        await Run(wire, "SET TimeZone = 'UTC'");
        await Run(wire, "SET search_path = demo, public");
        Assert.Equal(["UTF8"], await ReadColumnAsync(wire, "SHOW client_encoding"));
    }

    /// <summary>
    /// With an = on oids that is never true first in the agent's search_path, an origin lookup that wrote a bare = found
    /// no origin for the column, and the masked name came back unmasked (the lookup runs after the agent's statement,
    /// in its transaction). Each answer must hold the names masked, with their origin.
    /// </summary>
    [Fact]
    public async Task The_gateways_origin_lookup_is_not_fooled_by_an_operator_the_agents_search_path_puts_first()
    {
        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            await DemoDatabase.CreateShadowingOperatorAsync(connection);
        }
        var raw = await RawNamesAsync();
        const string path = "SET search_path = e2e_shadow, pg_catalog, demo";
        const string read = "SELECT name FROM demo.customers ORDER BY id LIMIT 5";

        var (status, body) = await Sql(path + "; " + read);
        Assert.True(status == HttpStatusCode.OK, body.GetRawText());
        var result = body.GetProperty("results").EnumerateArray().Last();
        Assert.Equal("demo.customers.name", result.GetProperty("columns")[0].GetProperty("origin").GetString());
        Assert.DoesNotContain(raw, name => body.GetRawText().Contains(name, StringComparison.Ordinal));

        var agent = await McpAgent.SharedSession(stack, "sql-session-state");
        var tool = await agent.CallAsync("sql_query", new Dictionary<string, object?> { ["connection"] = "warehouse", ["sql"] = path + "; " + read });
        Assert.True(tool.IsError != true, McpAgent.Text(tool));
        Assert.DoesNotContain(raw, name => McpAgent.Text(tool).Contains(name, StringComparison.Ordinal));

        await using var wire = await WireAgent.ConnectAsync(stack, NewSession());
        await Run(wire, path);
        var names = await ReadColumnAsync(wire, read);
        Assert.Equal(5, names.Count);
        Assert.DoesNotContain(raw, name => names.Contains(name));
        await using (var transaction = await wire.BeginTransactionAsync())
        {
            names = await ReadColumnAsync(wire, read);
            Assert.DoesNotContain(raw, name => names.Contains(name));
            await transaction.RollbackAsync();
        }
    }

    /// <summary>
    /// Agent A leaves session state on the gateway's upstream connections (settings, a prepared statement), through /sql,
    /// a wire session and a wire transaction; agent B, another identity on the same connection, must find each connection
    /// as new. B's statements are matched to A's by backend pid, so the test fails if none of them shares a connection.
    /// A's statement reads a table, so the gateway's masked-view check is prepared on the connection: Npgsql then resets
    /// a pooled connection without DEALLOCATE ALL, and A's PREPARE survived for B to see (and to collide with).
    /// </summary>
    [Fact]
    public async Task Session_state_one_identity_leaves_never_reaches_another_identitys_statements_on_the_same_connection()
    {
        var mark = "sqls_left_" + Guid.NewGuid().ToString("N")[..8];
        var (touched, bySql) = (new HashSet<int>(), new HashSet<int>());
        await using var wire = await WireAgent.ConnectAsync(stack, NewSession());
        for (var round = 0; round < 6; round++)
        {
            var (status, body) = await Sql($"""
                SET TimeZone = 'Pacific/Chatham'; SET search_path = demo, public; SET application_name = '{mark}';
                PREPARE {mark} AS SELECT 'prepared by agent a'; SELECT count(*) FROM demo.customers; SELECT pg_backend_pid()
                """);
            Assert.True(status == HttpStatusCode.OK, body.GetRawText());
            var pid = body.GetProperty("results").EnumerateArray().Last().GetProperty("rows")[0][0].GetInt32();
            touched.Add(pid);
            bySql.Add(pid);

            await Run(wire, "SET TimeZone = 'Pacific/Chatham'");
            touched.Add(int.Parse((await ReadColumnAsync(wire, "SELECT pg_backend_pid()")).Single()!));
            await using var transaction = await wire.BeginTransactionAsync();
            await Run(wire, $"SET application_name = '{mark}'");
            touched.Add(int.Parse((await ReadColumnAsync(wire, "SELECT pg_backend_pid()")).Single()!));
            await transaction.CommitAsync();
        }

        var (shared, sharedBySql) = (0, 0);
        for (var round = 0; round < 20; round++)
        {
            var (status, body) = await Sql($"""
                SELECT pg_backend_pid(), current_setting('TimeZone'), current_setting('search_path'),
                    current_setting('application_name'), current_user::text,
                    (SELECT count(*) FROM pg_prepared_statements WHERE name = '{mark}')
                """, client: PortcullisStack.SecondAgentClient);
            Assert.True(status == HttpStatusCode.OK, body.GetRawText());
            var row = body.GetProperty("results")[0].GetProperty("rows")[0];
            if (!touched.Contains(row[0].GetInt32())) continue;
            shared++;
            if (bySql.Contains(row[0].GetInt32())) sharedBySql++;
            Assert.NotEqual("Pacific/Chatham", row[1].GetString());
            Assert.Equal("\"$user\", public", row[2].GetString());
            Assert.Equal("portcullis-gateway", row[3].GetString());
            Assert.Equal(DemoDatabase.AgentRole, row[4].GetString());
            Assert.True(row[5].ToString() == "0", $"agent B's connection holds agent A's prepared statement {mark}");
        }
        Assert.True(sharedBySql > 0, $"none of agent B's statements ran on a connection agent A used through /sql ({string.Join(", ", bySql)}; {shared} on others it used)");
    }
    /// <summary>
    /// What agent B's statement sees of the session it runs in: its backend, then each kind of state another statement
    /// could have left (prepared statements the SQL made, cursors, LISTEN channels, session advisory locks, temporary
    /// tables, the transaction characteristics and a setting). All named in pg_catalog.
    /// </summary>
    private const string SessionLook = """
        SELECT pg_catalog.pg_backend_pid(),
            (SELECT pg_catalog.string_agg(name || ': ' || statement, '; ') FROM pg_catalog.pg_prepared_statements WHERE from_sql),
            (SELECT pg_catalog.string_agg(name, '; ') FROM pg_catalog.pg_cursors WHERE name OPERATOR(pg_catalog.<>) ''), -- '': this statement's own portal
            (SELECT pg_catalog.string_agg(c, '; ') FROM pg_catalog.pg_listening_channels() AS c),
            (SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks WHERE locktype OPERATOR(pg_catalog.=) 'advisory'
                AND pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()),
            (SELECT pg_catalog.string_agg(relname, '; ') FROM pg_catalog.pg_class
                WHERE relnamespace OPERATOR(pg_catalog.=) pg_catalog.pg_my_temp_schema()),
            pg_catalog.current_setting('default_transaction_isolation'), pg_catalog.current_setting('TimeZone')
        """;

    /// <summary>
    /// Agent A leaves session state on warehouse-tx's pooled upstream connections by routes whose text does not say so
    /// (a prepared statement made by a DO block's EXECUTE of built text, by an escape, by a function; LISTEN, a session
    /// advisory lock, a temporary table, a cursor WITH HOLD, SET SESSION CHARACTERISTICS, set_config through a function),
    /// through /sql, a wire statement and a wire transaction. Agent B, another identity, reads the same connection (matched
    /// by backend pid, which the test must reach for every route A took) and must find each as new; a route the policy
    /// refuses is closed too. warehouse-tx has no rules of its own, so only the gateway's reset can stand in the way.
    /// </summary>
    [Fact]
    public async Task Session_state_left_by_any_route_is_gone_before_another_identity_gets_the_connection()
    {
        await using (var admin = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await admin.OpenAsync();
            await DemoDatabase.CreateSessionStateFunctionsAsync(admin);
        }
        var mark = "sqls_route_" + Guid.NewGuid().ToString("N")[..8];
        const string pid = "SELECT pg_backend_pid()";
        var bySql = new (string Route, string Sql)[]
        {
            ("PREPARE", $"PREPARE {mark}_plain AS SELECT 'secret of a'; {pid}"),
            ("PREPARE built in a DO block", $"DO $$ BEGIN EXECUTE 'PREP' || 'ARE {mark}_do AS SELECT ''secret of a'''; END $$; {pid}"),
            ("PREPARE spelled with an escape", $"DO $$ BEGIN EXECUTE E'\\x50REPARE {mark}_esc AS SELECT 1'; END $$; {pid}"),
            ("PREPARE made by a function", $"SELECT pg_backend_pid(), {DemoDatabase.ShadowSchema}.make_statement('{mark}_fn')"),
            ("LISTEN", $"LISTEN {mark}; {pid}"),
            ("session advisory lock", "SELECT pg_backend_pid(), pg_advisory_lock(724242)"),
            ("temporary table", $"CREATE TEMP TABLE {mark}_t AS SELECT 'secret of a' AS v; {pid}"),
            ("cursor WITH HOLD", $"DECLARE {mark}_c CURSOR WITH HOLD FOR SELECT 'secret of a'; {pid}"),
            ("SET SESSION CHARACTERISTICS", $"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE; {pid}"),
            ("set_config through a function", $"SELECT pg_backend_pid(), {DemoDatabase.ShadowSchema}.set_zone('Pacific/Chatham')"),
        };
        var left = new List<(string Route, int Pid)>();
        var refused = new List<string>();
        foreach (var (route, sql) in bySql)
        {
            var (status, body) = await Sql(sql, "warehouse-tx");
            if (status == HttpStatusCode.Forbidden) { refused.Add($"{route} ({body.GetProperty("rule").GetString()})"); continue; }
            Assert.True(status == HttpStatusCode.OK, $"{route}: {body.GetRawText()}");
            left.Add((route, body.GetProperty("results").EnumerateArray().Last().GetProperty("rows")[0][0].GetInt32()));
        }
        // A route the policy refuses is closed (a DO block, whose body could set anything, is refused by the built-in
        // settings rule); PREPARE itself and a function that prepares are not: those the connector itself must clean.
        Assert.True(left.Any(l => l.Route == "PREPARE") && left.Any(l => l.Route == "PREPARE made by a function"),
            $"refused: {string.Join(", ", refused)}");

        await using (var wire = await WireAgent.ConnectAsync(stack, NewSession(), "warehouse-tx"))
        {
            var row = await ReadColumnAsync(wire, $"SELECT {DemoDatabase.ShadowSchema}.make_statement('{mark}_wire'), pg_backend_pid()");
            left.Add(("PREPARE made by a function, wire statement", int.Parse(row.Single()!)));
            await using var transaction = await wire.BeginTransactionAsync();
            await Run(wire, $"LISTEN {mark}_tx");
            row = await ReadColumnAsync(wire, $"SELECT {DemoDatabase.ShadowSchema}.make_statement('{mark}_tx'), pg_advisory_lock(724243), pg_backend_pid()");
            left.Add(("PREPARE, LISTEN and a lock in a wire transaction", int.Parse(row.Single()!)));
            await transaction.CommitAsync();
        }

        var touched = left.Select(l => l.Pid).ToHashSet();
        var reached = new HashSet<int>();
        // Each request takes an idle connection of the pool in turn: enough rounds to reach every one A used.
        for (var round = 0; round < 60 && !touched.IsSubsetOf(reached); round++)
        {
            var (status, body) = await Sql(SessionLook, "warehouse-tx", PortcullisStack.SecondAgentClient);
            Assert.True(status == HttpStatusCode.OK, body.GetRawText());
            var row = body.GetProperty("results")[0].GetProperty("rows")[0];
            var backend = row[0].GetInt32();
            if (!touched.Contains(backend)) continue;
            reached.Add(backend);
            var routes = string.Join(", ", left.Where(l => l.Pid == backend).Select(l => l.Route));
            Assert.True(row[1].ValueKind == JsonValueKind.Null, $"agent B sees prepared statements agent A left ({routes}): {row[1]}");
            Assert.True(row[2].ValueKind == JsonValueKind.Null, $"agent B sees cursors agent A left ({routes}): {row[2]}");
            Assert.True(row[3].ValueKind == JsonValueKind.Null, $"agent B listens where agent A did ({routes}): {row[3]}");
            Assert.True(row[4].ToString() == "0", $"agent B holds advisory locks agent A took ({routes}): {row[4]}");
            Assert.True(row[5].ValueKind == JsonValueKind.Null, $"agent B sees temporary tables agent A made ({routes}): {row[5]}");
            Assert.Equal("read committed", row[6].GetString());
            Assert.NotEqual("Pacific/Chatham", row[7].GetString());
        }
        Assert.True(touched.IsSubsetOf(reached),
            $"agent B never ran on the connections of {string.Join(", ", left.Where(l => !reached.Contains(l.Pid)).Select(l => l.Route))}");
        // Nothing A left outlived its use, on any connection: the locks A took are nobody's now.
        await using (var admin = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await admin.OpenAsync();
            Assert.Equal(["0"], await ReadColumnAsync(admin,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid IN (724242, 724243) AND granted"));
        }
    }
}
