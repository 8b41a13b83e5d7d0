using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Analysis.Sql.Catalogue;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>What a statement can do, from the catalogue generated from pg_proc: functions, operators, SQL text, scopes, settings.</summary>
public class SqlCapabilityTests
{
    private static readonly SqlStatementAnalyzer Analyzer = new();

    private static SqlAnalysis Analyze(string sql)
    {
        var analysis = Analyzer.Analyze(sql);
        Assert.Null(analysis.Error);
        return analysis;
    }

    [Fact]
    public void The_catalogue_holds_every_built_in_function_of_the_server()
    {
        Assert.True(PgCatalogue.Default.FunctionCount > 3000, $"{PgCatalogue.Default.FunctionCount} functions");
    }

    [Theory]
    [InlineData("SELECT query_to_xml('select * from demo.api_keys', true, false, '')")]
    [InlineData("SELECT pg_catalog.query_to_xml('select * from demo.api_keys', true, false, '')")]
    [InlineData("SELECT query_to_xml(E'select * from demo.\\x61pi_keys', true, false, '')")]
    [InlineData("SELECT query_to_xml($$select * from demo.api_keys$$, true, false, '')")]
    [InlineData("SELECT query_to_xml(U&'select * from demo.\\0061pi_keys', true, false, '')")]
    [InlineData("SELECT query_to_xml('select * from demo.api_keys'::text, true, false, '')")]
    [InlineData("SELECT query_to_xml(nulls => true, tableforest => false, targetns => '', query => 'select * from demo.api_keys')")]
    [InlineData("SELECT query_to_xml_and_xmlschema('select secret from demo.api_keys', true, false, '')")]
    [InlineData("SELECT xpath('//secret/text()', query_to_xml('select * from demo.api_keys', true, false, ''))")]
    [InlineData("SELECT query_to_xml('select query_to_xml(''select * from demo.api_keys'', true, false, '''')', true, false, '')")]
    [InlineData("SELECT table_to_xml('demo.api_keys', true, false, '')")]
    [InlineData("SELECT table_to_xml('\"demo\".\"api_keys\"'::regclass, true, false, '')")]
    [InlineData("SELECT * FROM ts_stat('select to_tsvector(secret) from demo.api_keys')")]
    [InlineData("SELECT ts_rewrite('a'::tsquery, 'select secret::tsquery, ''b''::tsquery from demo.api_keys')")]
    public void Constant_sql_text_a_function_runs_counts_as_if_written_in_the_statement(string sql)
    {
        var analysis = Analyze(sql);
        Assert.Contains(SqlCapabilities.SqlExecution, analysis.Kinds);
        Assert.DoesNotContain(SqlCapabilities.DynamicSql, analysis.Kinds);
        Assert.Contains(new TableReference("demo", "api_keys"), analysis.TablesRead);
    }

    [Theory]
    [InlineData("SELECT query_to_xml('select * from demo.' || 'api_keys', true, false, '')")]
    [InlineData("SELECT query_to_xml(format('select * from %I.%I', 'demo', 'api_keys'), true, false, '')")]
    [InlineData("SELECT query_to_xml($1, true, false, '')")]
    [InlineData("SELECT query_to_xml((SELECT 'select 1'), true, false, '')")]
    [InlineData("SELECT table_to_xml(16385, true, false, '')")]
    [InlineData("SELECT schema_to_xml('demo', true, false, '')")]
    [InlineData("SELECT database_to_xml(true, false, '')")]
    [InlineData("SELECT cursor_to_xml('c', 10, true, false, '')")]
    [InlineData("SELECT query_to_xml('selec broken', true, false, '')")]
    [InlineData("DO $$ BEGIN EXECUTE 'select 1'; END $$")]
    [InlineData("EXECUTE prepared_elsewhere")]
    [InlineData("FETCH ALL FROM cursor_elsewhere")]
    public void Sql_text_that_cannot_be_seen_is_dynamic_sql(string sql)
    {
        var analysis = Analyze(sql);
        Assert.Contains(SqlCapabilities.DynamicSql, analysis.Kinds);
        Assert.Contains(SqlCapabilities.SqlExecution, analysis.Kinds);
    }

    [Fact]
    public void Prepared_statements_and_cursors_of_the_same_text_are_seen()
    {
        var analysis = Analyze("PREPARE p AS SELECT * FROM demo.api_keys; EXECUTE p; DECLARE c CURSOR FOR SELECT 1; FETCH c");
        Assert.DoesNotContain(SqlCapabilities.DynamicSql, analysis.Kinds);
        Assert.Contains(new TableReference("demo", "api_keys"), analysis.TablesRead);
    }

    [Theory]
    [InlineData("SELECT lo_from_bytea(0, 'x')", SqlCapabilities.LargeObjectWrite)]
    [InlineData("SELECT lo_put(1, 0, 'x')", SqlCapabilities.LargeObjectWrite)]
    [InlineData("SELECT lo_unlink(1)", SqlCapabilities.LargeObjectWrite)]
    [InlineData("SELECT lo_get(1)", SqlCapabilities.LargeObject)]
    [InlineData("SELECT loread(lo_open(1, 262144), 100)", SqlCapabilities.LargeObject)]
    [InlineData("SELECT pg_read_file('/etc/passwd')", SqlCapabilities.FileAccess)]
    [InlineData("SELECT lo_import('/etc/passwd')", SqlCapabilities.FileAccess)]
    [InlineData("SELECT * FROM pg_ls_dir('.')", SqlCapabilities.FileAccess)]
    [InlineData("SELECT pg_advisory_lock(1)", SqlCapabilities.ServerState)]
    [InlineData("SELECT pg_notify('c', 'x')", SqlCapabilities.ServerState)]
    [InlineData("SELECT nextval('demo.seq')", SqlCapabilities.ServerState)]
    [InlineData("NOTIFY channel, 'x'", SqlCapabilities.ServerState)]
    [InlineData("SELECT pg_terminate_backend(1)", SqlCapabilities.AdminFunction)]
    [InlineData("SELECT pg_reload_conf()", SqlCapabilities.AdminFunction)]
    [InlineData("SELECT pg_sleep(1)", SqlCapabilities.Delay)]
    [InlineData("SELECT pg_sleep_for('1 second')", SqlCapabilities.Delay)]
    [InlineData("SELECT pg_stat_get_backend_activity(1)", SqlCapabilities.SensitiveCatalog)]
    [InlineData("SELECT dblink('host=x', 'select 1')", SqlCapabilities.RemoteAccess)]
    [InlineData("SELECT public.dblink_exec('host=x', 'select 1')", SqlCapabilities.RemoteAccess)]
    [InlineData("SELECT demo.my_function(1)", SqlCapabilities.UnvettedFunction)]
    [InlineData("SELECT my_function(1)", SqlCapabilities.UnvettedFunction)]
    [InlineData("SELECT lower('a', 'b', 'c')", SqlCapabilities.UnvettedFunction)]
    [InlineData("SELECT 1 OPERATOR(public.===) 2", SqlCapabilities.UnvettedFunction)]
    [InlineData("SELECT 1 <<<>>> 2", SqlCapabilities.UnvettedFunction)]
    [InlineData("SELECT * FROM demo.customers TABLESAMPLE system_rows(10)", SqlCapabilities.UnvettedFunction)]
    [InlineData("CALL demo.archive()", SqlCapabilities.UnvettedFunction)]
    [InlineData("DO LANGUAGE plpython3u $$ import os $$", SqlCapabilities.ProgramExecution)]
    [InlineData("SET search_path = public, pg_catalog; SELECT lower('A')", SqlCapabilities.UnvettedFunction)]
    public void Functions_and_operators_are_judged_by_what_they_can_do(string sql, string kind)
    {
        Assert.Contains(kind, Analyze(sql).Kinds);
    }

    [Theory]
    [InlineData("SELECT lower(name), count(*), now(), coalesce(email, '') FROM demo.customers GROUP BY 1, 3, 4")]
    [InlineData("SELECT id FROM demo.customers WHERE id BETWEEN 1 AND 3 AND name LIKE 'A%' AND id = ANY (ARRAY[1, 2])")]
    [InlineData("SELECT jsonb_build_object('a', 1) || '{}'::jsonb, 'x' || 'y', 2 ^ 3, @ -1")]
    [InlineData("SELECT * FROM demo.customers TABLESAMPLE bernoulli(10)")]
    [InlineData("SELECT string_agg(name, ',' ORDER BY name USING <) FROM demo.customers")]
    [InlineData("SELECT pg_catalog.upper('a'), information_schema._pg_char_max_length(25, -1)")]
    [InlineData("SELECT format('%s', 1), concat('a', 'b', 'c', 'd'), current_setting('TimeZone')")]
    [InlineData("SELECT 'demo.customers'::regclass, 'pg_read_server_files'::regrole")]
    [InlineData("SET DateStyle = ISO; SET TIME ZONE 'UTC'")]
    public void Built_in_computations_have_no_capability(string sql)
    {
        var capabilities = Analyze(sql).Kinds.Where(SqlCapabilities.All.Contains).ToList();
        Assert.True(capabilities.Count == 0, string.Join(", ", capabilities));
    }

    [Fact]
    public void A_cte_name_exists_in_its_own_statement_only()
    {
        var analysis = Analyze("WITH pg_stats AS (SELECT 1) SELECT * FROM pg_stats; SELECT * FROM pg_stats");
        Assert.Contains(new TableReference(null, "pg_stats"), analysis.TablesRead);
        Assert.Contains(SqlCapabilities.SensitiveCatalog, analysis.Kinds);
    }

    [Theory]
    [InlineData("WITH api_keys AS (SELECT * FROM api_keys) SELECT * FROM api_keys", true)]
    [InlineData("WITH a AS (SELECT 1) SELECT * FROM (WITH api_keys AS (SELECT 1) SELECT * FROM api_keys) x, api_keys", true)]
    [InlineData("WITH api_keys AS (SELECT 1) SELECT * FROM public.api_keys", true)]
    [InlineData("SELECT (WITH api_keys AS (SELECT 1) SELECT 1), * FROM api_keys", true)]
    [InlineData("WITH x AS (SELECT * FROM api_keys y) SELECT * FROM x", true)]
    [InlineData("WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b", false)]
    [InlineData("WITH api_keys AS (SELECT 1) SELECT * FROM api_keys", false)]
    [InlineData("WITH RECURSIVE api_keys(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM api_keys WHERE n < 3) SELECT * FROM api_keys", false)]
    [InlineData("WITH api_keys AS (SELECT 1) SELECT * FROM (SELECT * FROM api_keys) s WHERE EXISTS (SELECT 1 FROM api_keys)", false)]
    public void Cte_names_shadow_tables_only_where_postgresql_scopes_them(string sql, bool readsTable)
    {
        var analysis = Analyze(sql);
        var reads = analysis.TablesRead.Any(t => t.Name == "api_keys");
        Assert.True(readsTable == reads, $"reads api_keys: {reads}; tables: {string.Join(", ", analysis.TablesRead)}");
    }

    [Fact]
    public void A_forward_reference_in_a_non_recursive_with_is_the_table()
    {
        var analysis = Analyze("WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b");
        Assert.Contains(new TableReference(null, "a"), analysis.TablesRead);
    }

    [Theory]
    [InlineData("SELECT * FROM pg_authid")]
    [InlineData("SELECT * FROM pg_catalog.pg_stats")]
    [InlineData("SELECT query FROM pg_stat_activity")]
    [InlineData("SELECT * FROM pg_user_mappings")]
    [InlineData("SELECT * FROM pg_largeobject")]
    [InlineData("SELECT * FROM information_schema.user_mapping_options")]
    [InlineData("SELECT * FROM pg_stat_get_activity(NULL)")]
    [InlineData("SELECT * FROM public.pg_stat_statements")]
    [InlineData("SET search_path = information_schema; SELECT * FROM user_mappings")]
    [InlineData("SELECT query_to_xml('select * from pg_authid', true, false, '')")]
    public void Sensitive_catalog_reads_are_their_own_kind(string sql)
    {
        Assert.Contains(SqlCapabilities.SensitiveCatalog, Analyze(sql).Kinds);
    }

    [Theory]
    [InlineData("SELECT * FROM pg_class")]
    [InlineData("SELECT rolname FROM pg_roles")]
    [InlineData("SELECT * FROM information_schema.tables")]
    [InlineData("SELECT * FROM demo.pg_stats")]
    public void Ordinary_catalog_reads_are_not_sensitive(string sql)
    {
        Assert.DoesNotContain(SqlCapabilities.SensitiveCatalog, Analyze(sql).Kinds);
    }

    [Theory]
    [InlineData("SET statement_timeout = 0", false)]
    [InlineData("SET LOCAL lock_timeout = 0", false)]
    [InlineData("SET default_transaction_read_only = off", false)]
    [InlineData("SET session_replication_role = replica", false)]
    [InlineData("SET lo_compat_privileges = on", false)]
    [InlineData("SET TRANSACTION READ WRITE", false)]
    [InlineData("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", false)]
    [InlineData("SET client_encoding = 'LATIN1'", false)]
    [InlineData("SELECT set_config('statement_timeout', '0', false)", false)]
    [InlineData("SELECT set_config(name, '0', false) FROM pg_settings", true)]
    [InlineData("SET ROLE postgres", true)]
    [InlineData("RESET ROLE", true)]
    [InlineData("SET SESSION AUTHORIZATION postgres", true)]
    [InlineData("SELECT set_config('role', 'postgres', false)", true)]
    [InlineData("RESET ALL", false)]
    [InlineData("DISCARD ALL", true)]
    public void Settings_that_change_how_statements_run_are_unsafe(string sql, bool privilege)
    {
        var kinds = Analyze(sql).Kinds;
        Assert.Contains(SqlCapabilities.UnsafeSetting, kinds);
        Assert.Equal(privilege, kinds.Contains("privilege"));
    }

    [Fact]
    public void A_table_rule_denies_sql_text_even_where_sql_execution_is_allowed()
    {
        var policy = CompiledPolicy.From(PortcullisConfigLoader.Parse("""
            connections:
              warehouse: { kind: postgres, default_effect: deny }
            policy:
              rules:
                - id: no-api-keys
                  effect: deny
                  reason: API keys are never read.
                  match: { sql: { tables: [demo.api_keys] } }
                - id: xml-exports
                  effect: allow
                  match: { sql: { kinds: [select, sql_execution] } }
            """));
        var evaluator = new PolicyEvaluator(Analyzer, new ShellCommandAnalyzer(), TimeProvider.System);
        PolicyEvaluated Decide(string sql) => evaluator.Evaluate(policy, new RequestReceived(Guid.NewGuid(), "s",
            new Principal("a", "a", ["agents"]), new AgentAction(Protocols.Sql, "warehouse", Sql: sql), DateTimeOffset.UtcNow)).Evaluated;

        var secrets = Decide("SELECT query_to_xml('select * from demo.api_keys', true, false, '')");
        Assert.Equal((Decision.Deny, "no-api-keys"), (secrets.Decision, secrets.RuleId));
        Assert.Equal(Decision.Allow, Decide("SELECT query_to_xml('select 1 AS n', true, false, '')").Decision);
        // Unseen text is not vouched for by an allow rule that does not name dynamic_sql.
        Assert.Equal(Decision.Deny, Decide("SELECT query_to_xml($1, true, false, '')").Decision);
    }
}
