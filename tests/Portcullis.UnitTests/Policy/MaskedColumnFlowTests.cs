using System.Reflection;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// The built-in masked-column-flow check: a masked column may be selected bare at the top of a statement (where the
/// gateway masks it by origin), and nowhere else, whatever the agent's rules say.
/// </summary>
public class MaskedColumnFlowTests
{
    private const string Yaml = """
        connections:
          warehouse: { kind: postgres, connection_string: "Host=db;Database=sales", default_effect: allow }
          reports: { kind: postgres, connection_string: "Host=db;Database=sales", default_effect: allow }
        policy:
          default_effect: deny
          rules:
            - id: allow-all-sql
              effect: allow
              match: { connections: [warehouse, reports] }
        masking:
          rules:
            - id: customer-pii
              connections: [warehouse]
              columns: [demo.customers.ssn, demo.customers.email, demo.customers.name]
            - id: cards-everywhere
              columns: ["demo.*.card_number"]
        """;

    private static readonly CompiledPolicy Policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml));
    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static PolicyEvaluated Decide(string sql, string connection = "warehouse") =>
        Evaluator.Evaluate(Policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-1", "agent-1", ["agents"]),
            new AgentAction(Protocols.Sql, connection, Sql: sql), DateTimeOffset.UtcNow)).Evaluated;

    [Theory]
    [InlineData("SELECT ssn FROM demo.customers")]
    [InlineData("SELECT ssn AS s, email e, c.name FROM demo.customers c WHERE c.id = 1")]
    [InlineData("SELECT demo.customers.ssn, customers.email FROM demo.customers")]
    [InlineData("SELECT * FROM demo.customers")]
    [InlineData("SELECT c.*, p.amount FROM demo.customers c JOIN demo.payments p ON p.customer_id = c.id WHERE p.amount > 10")]
    [InlineData("TABLE demo.customers")]
    [InlineData("SELECT count(*) FROM demo.customers")]
    [InlineData("SELECT country, count(*), max(created_at) FROM demo.customers GROUP BY country HAVING count(*) > 1 ORDER BY 2 DESC")]
    [InlineData("SELECT ssn, country FROM demo.customers ORDER BY id LIMIT 5")]
    [InlineData("SELECT id, name FROM demo.customers WHERE id IN (SELECT customer_id FROM demo.payments WHERE amount > 100)")]
    [InlineData("WITH big AS (SELECT customer_id FROM demo.payments WHERE amount > 100) SELECT c.id, c.email FROM demo.customers c JOIN big ON big.customer_id = c.id")]
    [InlineData("WITH customers AS (SELECT 1 AS ssn) SELECT upper(ssn::text) FROM customers")]
    [InlineData("SELECT upper(x.ssn) FROM (SELECT 'a' AS ssn) x")]
    [InlineData("UPDATE demo.customers SET country = 'NL' WHERE id = 1 RETURNING id, ssn")]
    [InlineData("DELETE FROM demo.customers WHERE id = 99 RETURNING *")]
    [InlineData("INSERT INTO demo.payments (id, customer_id, amount, paid_at) VALUES (1000, 1, 5, now())")]
    [InlineData("EXPLAIN SELECT id, country FROM demo.customers WHERE id = 1")]
    [InlineData("SELECT lower(country) FROM other.customers_archive")]
    [InlineData("SELECT upper(reference) FROM archive.payments")]
    [InlineData("SELECT sum(amount), avg(amount) FROM demo.payments")]
    [InlineData("SELECT id, ssn FROM demo.customers c1 WHERE EXISTS (SELECT 1 FROM demo.payments p WHERE p.customer_id = c1.id)")]
    [InlineData("SELECT 1; SELECT name FROM demo.customers")]
    [InlineData("SELECT x FROM demo.customers AS c(a, b, c2, d, e, x)")]
    [InlineData("SELECT ssn FROM demo.customers GROUP BY id")]
    [InlineData("SELECT o.name || 'x' FROM demo.customers c JOIN other o ON o.id = c.id")]
    [InlineData("SELECT id FROM demo.payments p WHERE EXISTS (SELECT * FROM demo.customers c WHERE c.id = p.customer_id)")]
    [InlineData("SELECT id FROM demo.customers WHERE id = 1 UNION SELECT id FROM demo.customers ORDER BY 1")]
    [InlineData("SELECT name FROM demo.customers_archive WHERE upper(name) = 'X'")]
    public void Allows_bare_reads_and_computation_on_unmasked_columns(string sql)
    {
        var decision = Decide(sql);
        Assert.True(decision.Decision == Decision.Allow, $"{sql}: {decision.RuleId} {decision.Reason}");
    }

    [Theory]
    // expressions over masked columns
    [InlineData("SELECT translate(ssn, '-', '') FROM demo.customers")]
    [InlineData("SELECT replace(email, '@', ' at ') FROM demo.customers")]
    [InlineData("SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM demo.customers")]
    [InlineData("SELECT reverse(email) FROM demo.customers")]
    [InlineData("SELECT regexp_split_to_array(email, '') FROM demo.customers")]
    [InlineData("SELECT ssn::text FROM demo.customers")]
    [InlineData("SELECT ssn || '' FROM demo.customers")]
    [InlineData("SELECT max(ssn) FROM demo.customers")]
    [InlineData("SELECT count(ssn) FROM demo.customers")]
    [InlineData("SELECT string_agg(name, ',') FROM demo.customers")]
    [InlineData("SELECT CASE WHEN ssn LIKE '1%' THEN 1 END FROM demo.customers")]
    [InlineData("SELECT (SELECT ssn FROM demo.customers LIMIT 1)")]
    [InlineData("SELECT s FROM (SELECT ssn AS s FROM demo.customers) t")]
    [InlineData("WITH x AS (SELECT ssn FROM demo.customers) SELECT * FROM x")]
    [InlineData("SELECT ssn FROM demo.customers UNION SELECT 'x'")]
    [InlineData("SELECT id FROM demo.customers UNION ALL SELECT email FROM demo.customers")]
    [InlineData("SELECT ssn, lag(ssn) OVER (ORDER BY id) FROM demo.customers")]
    [InlineData("SELECT card_number || '' FROM demo.payments")]
    [InlineData("SELECT upper(card_number) FROM payments")]
    [InlineData("SELECT upper(ssn) FROM customers")]
    [InlineData("SELECT upper(x) FROM demo.customers AS c(a, b, c2, d, e, x)")]
    [InlineData("SELECT query_to_xml('select ssn from demo.customers', true, false, '')")]
    [InlineData("SELECT table_to_xml('demo.customers', true, false, '')")]
    // predicates as oracles
    [InlineData("SELECT id FROM demo.customers WHERE ssn LIKE '1%'")]
    [InlineData("SELECT count(*) FROM demo.customers WHERE email = 'customer1@example.com'")]
    [InlineData("SELECT id FROM demo.customers ORDER BY ssn")]
    [InlineData("SELECT ssn FROM demo.customers ORDER BY 1")]
    [InlineData("SELECT ssn AS s FROM demo.customers ORDER BY s")]
    [InlineData("SELECT * FROM demo.customers ORDER BY 6")]
    [InlineData("SELECT ssn, count(*) FROM demo.customers GROUP BY ssn")]
    [InlineData("SELECT DISTINCT ssn FROM demo.customers")]
    [InlineData("SELECT DISTINCT ON (email) id FROM demo.customers")]
    [InlineData("SELECT country FROM demo.customers GROUP BY country HAVING max(ssn) > '5'")]
    [InlineData("SELECT p.id FROM demo.payments p JOIN demo.customers c ON c.ssn = p.card_number")]
    [InlineData("SELECT * FROM demo.customers JOIN other USING (email)")]
    [InlineData("SELECT * FROM demo.customers NATURAL JOIN (VALUES ('1')) v(ssn)")]
    [InlineData("SELECT id FROM demo.payments p WHERE EXISTS (SELECT 1 FROM demo.customers c WHERE c.id = p.customer_id AND c.ssn > '5')")]
    [InlineData("SELECT id FROM demo.customers LIMIT (SELECT count(*) FROM demo.customers WHERE ssn < '3')")]
    [InlineData("SELECT 1/(CASE WHEN ssn LIKE '1%' THEN 0 ELSE 1 END) FROM demo.customers")]
    [InlineData("UPDATE demo.customers SET country = 'NL' WHERE ssn LIKE '1%'")]
    [InlineData("UPDATE demo.customers SET country = ssn WHERE id = 1")]
    [InlineData("UPDATE demo.customers SET ssn = 'x' WHERE id = 1")]
    [InlineData("DELETE FROM demo.customers WHERE email LIKE 'a%'")]
    [InlineData("INSERT INTO other SELECT ssn FROM demo.customers")]
    [InlineData("INSERT INTO demo.customers VALUES (100, 'a', 'b', null, null, '123', now())")]
    [InlineData("INSERT INTO demo.customers (id, email) VALUES (100, 'a@b.c')")]
    [InlineData("UPDATE demo.customers SET country = 'NL' WHERE id = 1 RETURNING upper(ssn)")]
    [InlineData("MERGE INTO demo.payments p USING demo.customers c ON c.id = p.customer_id AND c.ssn LIKE '1%' WHEN MATCHED THEN DO NOTHING")]
    [InlineData("EXPLAIN ANALYZE SELECT id FROM demo.customers WHERE ssn LIKE '1%'")]
    // whole-row references, stores and statistics
    [InlineData("SELECT row_to_json(c) FROM demo.customers c")]
    [InlineData("SELECT c::text FROM demo.customers c")]
    [InlineData("SELECT c FROM demo.customers c")]
    [InlineData("SELECT to_jsonb(customers) FROM demo.customers")]
    [InlineData("SELECT row_to_json(c.*) FROM demo.customers c")]
    [InlineData("SELECT id FROM demo.customers c WHERE c = c")]
    [InlineData("SELECT (c).ssn FROM demo.customers c")]
    [InlineData("SELECT * FROM (SELECT * FROM demo.customers) s")]
    [InlineData("SELECT ssn INTO copy_of_customers FROM demo.customers")]
    [InlineData("CREATE TABLE copy AS SELECT * FROM demo.customers")]
    [InlineData("CREATE VIEW v AS SELECT ssn FROM demo.customers")]
    [InlineData("COPY demo.customers TO STDOUT")]
    [InlineData("COPY (SELECT ssn FROM demo.customers) TO STDOUT")]
    [InlineData("SELECT most_common_vals FROM pg_stats WHERE attname = 'ssn'")]
    [InlineData("DO $$ BEGIN RAISE EXCEPTION '%', (SELECT string_agg(name, ',') FROM demo.customers); END $$")]
    [InlineData("PREPARE p AS SELECT ssn FROM demo.customers")]
    [InlineData("SELECT 1; SELECT upper(name) FROM demo.customers")]
    [InlineData("SELECT id FROM demo.customers c, LATERAL (SELECT c.ssn) s")]
    [InlineData("SELECT u FROM demo.customers c, unnest(ARRAY[c.email]) u")]
    [InlineData("SELECT name(c) FROM demo.customers c")]
    [InlineData("SELECT * FROM demo.customers c, jsonb_each_text(to_jsonb(c))")]
    [InlineData("SELECT * FROM demo.customers c JOIN LATERAL (SELECT c.*) s ON true")]
    [InlineData("SELECT upper(U&\"\\0073sn\") FROM demo.customers")]
    [InlineData("SELECT ssn FROM demo.customers WINDOW w AS (ORDER BY ssn)")]
    [InlineData("DECLARE cur CURSOR FOR SELECT ssn FROM demo.customers")]
    [InlineData("WITH RECURSIVE r AS (SELECT ssn FROM demo.customers UNION SELECT ssn FROM r) SELECT 1")]
    [InlineData("SELECT 1 FROM demo.customers c JOIN LATERAL (SELECT 1) s ON c.email IS NULL")]
    [InlineData("VALUES ((SELECT ssn FROM demo.customers LIMIT 1))")]
    [InlineData("EXPLAIN (ANALYZE) SELECT ssn FROM demo.customers ORDER BY ssn")]
    [InlineData("INSERT INTO demo.customers (id, country) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET country = excluded.country WHERE customers.ssn LIKE '1%'")]
    [InlineData("INSERT INTO demo.customers (id, country) VALUES (1, 'x') ON CONFLICT (email) DO NOTHING")]
    [InlineData("SELECT id FROM demo.customers c WHERE c.id IN (SELECT d.id FROM demo.customers d WHERE d.id = c.id AND c.ssn IS NULL)")]
    [InlineData("SELECT id FROM demo.payments p WHERE EXISTS (SELECT ssn FROM demo.customers INTERSECT SELECT '1')")]
    [InlineData("SELECT id FROM demo.payments p WHERE EXISTS (SELECT * FROM demo.customers GROUP BY 6 HAVING count(*) > 1)")]
    [InlineData("SELECT id FROM demo.payments p WHERE EXISTS (SELECT DISTINCT * FROM demo.customers)")]
    [InlineData("SELECT id FROM demo.payments p WHERE EXISTS (SELECT * FROM demo.customers c WHERE c.ssn = p.card_number)")]
    [InlineData("SELECT demo.customers FROM demo.customers")]
    [InlineData("SELECT pg_catalog.upper(ssn) FROM demo.customers")]
    [InlineData("SELECT ssn OPERATOR(pg_catalog.||) '' FROM demo.customers")]
    public void Refuses_computation_predicates_and_whole_rows_on_masked_columns(string sql)
    {
        var decision = Decide(sql);
        Assert.Equal(Decision.Deny, decision.Decision);
        Assert.Equal(PolicyEvaluator.MaskedColumnFlowRule, decision.RuleId);
        Assert.Contains("to get its masked value", decision.Reason);
    }

    [Fact]
    public void The_refusal_names_the_column_and_how_to_select_it()
    {
        var decision = Decide("SELECT id FROM demo.customers WHERE ssn LIKE '1%'");
        Assert.Contains("demo.customers.ssn", decision.Reason);
        Assert.Contains("WHERE", decision.Reason);
        Assert.Contains("SELECT ssn FROM demo.customers", decision.Reason);
    }

    [Theory]
    // The masking service masks these by their names alone (a password is a password in any table); computed, they
    // would come back unnamed and unmasked, so they are masked columns here too, in every table and connection.
    [InlineData("SELECT upper(secret) FROM demo.api_keys")]
    [InlineData("SELECT (SELECT secret FROM demo.api_keys LIMIT 1)::int")]
    [InlineData("SELECT secret::int FROM demo.api_keys")]
    [InlineData("SELECT substr(password_hash, 1, 8) FROM public.users")]
    [InlineData("SELECT lower(email) FROM other.customers_archive")]
    [InlineData("SELECT upper(card_number) FROM archive.payments")]
    [InlineData("SELECT o.ssn || 'x' FROM demo.customers c JOIN other o ON o.id = c.id")]
    [InlineData("SELECT id FROM app.sessions WHERE token LIKE 'a%'")]
    [InlineData("SELECT string_agg(api_key, ',') FROM app.clients")]
    [InlineData("SELECT reverse(\"refreshToken\") FROM app.oauth")]
    [InlineData("SELECT to_hex(ascii(substr(pin, 1, 1))) FROM app.cards")]
    [InlineData("SELECT x.secret FROM (SELECT secret FROM demo.api_keys) x")]
    // whole rows: the table's columns are not known here, and any table may have a secret-named one
    [InlineData("SELECT k FROM demo.api_keys k")]
    [InlineData("SELECT row_to_json(k) FROM demo.api_keys k")]
    [InlineData("SELECT k::text FROM demo.api_keys k")]
    [InlineData("SELECT upper(b) FROM demo.api_keys AS k(a, b)")]
    [InlineData("SELECT * FROM (SELECT * FROM demo.api_keys) k")]
    [InlineData("SELECT json_agg(t) FROM public.orders t")]
    [InlineData("SELECT schema_to_xml('demo', true, false, '')")]
    [InlineData("SELECT database_to_xml(true, false, '')")]
    [InlineData("SELECT query_to_xml('select secret from demo.api_keys', true, false, '')")]
    public void Refuses_computation_on_columns_masked_by_their_names(string sql)
    {
        foreach (var connection in new[] { "warehouse", "reports" })
        {
            var decision = Decide(sql, connection);
            Assert.True(decision.RuleId == PolicyEvaluator.MaskedColumnFlowRule, $"{sql} on {connection}: {decision.Decision} {decision.RuleId} {decision.Reason}");
        }
    }

    [Theory]
    [InlineData("SELECT secret FROM demo.api_keys")]
    [InlineData("SELECT secret AS note, id FROM demo.api_keys WHERE id = 1")]
    [InlineData("SELECT * FROM demo.api_keys")]
    [InlineData("SELECT count(*) FROM demo.api_keys")]
    [InlineData("SELECT token_type, upper(client_name) FROM app.oauth")]
    [InlineData("SELECT b FROM demo.api_keys AS k(a, b)")]
    [InlineData("SELECT query_to_xml('select 1 AS n', true, false, '')")]
    public void Allows_bare_reads_of_columns_masked_by_their_names(string sql)
    {
        var decision = Decide(sql, "reports");
        Assert.True(decision.Decision == Decision.Allow, $"{sql}: {decision.RuleId} {decision.Reason}");
    }

    [Fact]
    public void Masking_rules_for_other_connections_do_not_apply()
    {
        Assert.Equal(Decision.Allow, Decide("SELECT upper(name) FROM demo.customers", "reports").Decision);
        // a rule without connections applies to every connection
        Assert.Equal(PolicyEvaluator.MaskedColumnFlowRule, Decide("SELECT upper(card_number) FROM demo.payments", "reports").RuleId);
    }

    [Fact]
    public void A_masked_column_deep_in_nested_expressions_is_found()
    {
        string Nested(string inner) => "SELECT " + string.Concat(Enumerable.Repeat("coalesce(", 300)) + inner + new string(')', 300) + " FROM demo.customers";
        Assert.Null(MaskedColumnFlow.Check(Nested("id"), Policy.MaskedColumns["warehouse"]));
        Assert.Contains("demo.customers.ssn", MaskedColumnFlow.Check(Nested("ssn"), Policy.MaskedColumns["warehouse"]));
    }

    [Fact]
    public void A_rules_own_denial_stands()
    {
        var policy = CompiledPolicy.From(PortcullisConfigLoader.Parse(Yaml.Replace("""
                - id: allow-all-sql
            """, """
                - id: no-copy
                  effect: deny
                  match: { sql: { kinds: [copy] } }
                - id: allow-all-sql
            """)));
        var decision = Evaluator.Evaluate(policy, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-1", "agent-1", ["agents"]),
            new AgentAction(Protocols.Sql, "warehouse", Sql: "COPY demo.customers TO STDOUT"), DateTimeOffset.UtcNow)).Evaluated;
        Assert.Equal("no-copy", decision.RuleId);
    }

    [Fact]
    public void Allowed_statements_name_their_relations_for_the_gateways_view_check()
    {
        var decision = Decide("SELECT id FROM demo.customer_contacts JOIN orders USING (id) WHERE id IN (SELECT id FROM public.x)");
        Assert.Equal(Decision.Allow, decision.Decision);
        Assert.Equal(["demo.customer_contacts", "orders", "public.x"], decision.Obligations!.Relations);
    }

    [Fact]
    public void Refuses_even_when_a_rule_allows_everything()
    {
        var decision = Decide("SELECT reverse(email) FROM demo.customers");
        Assert.Equal(Decision.Deny, decision.Decision);
        Assert.Equal(PolicyEvaluator.MaskedColumnFlowRule, decision.RuleId);
        Assert.Equal(["allow-all-sql"], decision.MatchedRules);
    }

    private static readonly string StateCorpus = Path.Combine(typeof(MaskedColumnFlowTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!,
        "tests", "Portcullis.EndToEndTests", "Corpus", "sql-masked-columns-state.txt");

    public static TheoryData<int, string, string> StateCases()
    {
        var data = new TheoryData<int, string, string>();
        foreach (var (text, index) in File.ReadAllLines(StateCorpus).Select((t, i) => (t, i + 1)))
        {
            if (text.Length == 0 || text.StartsWith('#')) continue;
            var parts = text.Split(" :: ", 2);
            data.Add(index, parts[0].Trim(), parts[1].Trim());
        }
        return data;
    }

    /// <summary>
    /// Every statement of Corpus/sql-masked-columns-state.txt (rename, re-parent, constrain, index, measure, EXPLAIN,
    /// side effects) under a policy that allows everything, DDL too, as on a connection whose role owns the tables:
    /// the built-in alone refuses each `refuse` line, and lets the others through.
    /// </summary>
    [Theory]
    [MemberData(nameof(StateCases))]
    public void The_state_and_schema_corpus_is_refused_by_the_built_in_alone(int line, string effect, string sql)
    {
        var decision = Decide(sql);
        if (effect == "refuse")
        {
            Assert.True(decision.RuleId == PolicyEvaluator.MaskedColumnFlowRule, $"line {line}: {sql}: {decision.Decision} {decision.RuleId} {decision.Reason}");
            Assert.Contains("to get its masked value", decision.Reason);
        }
        else
        {
            Assert.True(decision.Decision == Decision.Allow, $"line {line}: {sql}: {decision.RuleId} {decision.Reason}");
        }
    }

    [Theory]
    // DDL on tables without declared masked columns, naming no column masked by its name, is not the built-in's to refuse
    [InlineData("CREATE TABLE public.notes (id int PRIMARY KEY, body text CHECK (body <> ''))")]
    [InlineData("ALTER TABLE public.notes RENAME COLUMN body TO text_body")]
    [InlineData("ALTER TABLE public.notes ADD COLUMN body_length int GENERATED ALWAYS AS (length(body)) STORED")]
    [InlineData("CREATE INDEX notes_body ON public.notes (body) WHERE id > 10")]
    [InlineData("CREATE STATISTICS notes_stats ON id, body FROM public.notes")]
    [InlineData("ANALYZE public.notes")]
    [InlineData("CREATE VIEW public.customer_ids AS SELECT id, country FROM demo.customers")]
    [InlineData("CREATE TABLE demo.notes (id int)")]
    [InlineData("ALTER TABLE public.notes ADD COLUMN ssn text")]
    [InlineData("ALTER SCHEMA public RENAME TO shared")]
    [InlineData("COMMENT ON COLUMN demo.customers.ssn IS 'a constant'")]
    [InlineData("EXPLAIN SELECT count(*) FROM demo.customers WHERE country = 'NL'")]
    public void Allows_schema_statements_that_touch_no_masked_column(string sql)
    {
        var decision = Decide(sql);
        Assert.True(decision.Decision == Decision.Allow, $"{sql}: {decision.RuleId} {decision.Reason}");
    }

    [Fact]
    public void A_schema_refusal_names_the_table_and_how_to_read_it()
    {
        var decision = Decide("ALTER TABLE demo.customers RENAME COLUMN ssn TO x");
        Assert.Equal(PolicyEvaluator.MaskedColumnFlowRule, decision.RuleId);
        Assert.Contains("demo.customers.", decision.Reason);
        Assert.Contains("stop matching", decision.Reason);
    }
}
