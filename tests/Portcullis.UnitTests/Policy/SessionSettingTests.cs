using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// The settings an agent may change at all, whatever the rules say: the gateway judges a statement as PostgreSQL reads it
/// with its defaults, so a setting that changes how the server reads statements (standard_conforming_strings,
/// client_encoding), whose rights run them (role) or what row-level security sees (custom settings) is refused by the
/// built-in rule on a connection whose rules allow everything, by SET, SET LOCAL, set_config or an UPDATE of pg_settings.
/// </summary>
public sealed class SessionSettingTests
{
    private static readonly CompiledPolicy Open = CompiledPolicy.From(PortcullisConfigLoader.Parse("""
        connections:
          open: { kind: postgres, connection_string: "Host=db;Database=d;Username=u", default_effect: allow }
          approved: { kind: postgres, connection_string: "Host=db;Database=d;Username=u", default_effect: allow }
          ruled: { kind: postgres, connection_string: "Host=db;Database=d;Username=u", default_effect: allow }
        policy:
          rules:
            - id: approve-settings
              effect: require_approval
              approvers: [dba]
              match: { connections: [approved], sql: { kinds: [set] } }
            - id: no-settings
              effect: deny
              reason: Not here.
              match: { connections: [ruled], sql: { kinds: [unsafe_setting] } }
        """));

    private static readonly PolicyEvaluator Evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    private static PolicyEvaluated Decide(string sql, string connection = "open") =>
        Evaluator.Evaluate(Open, new RequestReceived(Guid.NewGuid(), "s1", new Principal("agent-7", "agent-7", ["agents"]),
            new AgentAction(Protocols.Sql, connection, Sql: sql), DateTimeOffset.UtcNow)).Evaluated;

    [Theory]
    [InlineData("SET standard_conforming_strings = off")]
    [InlineData("SET LOCAL standard_conforming_strings TO off")]
    [InlineData("SET backslash_quote = on")]
    [InlineData("SET escape_string_warning = off")]
    [InlineData("SET client_encoding = 'SJIS'")]
    [InlineData("SET NAMES 'BIG5'")]
    [InlineData("SET ROLE postgres")]
    [InlineData("SET SESSION AUTHORIZATION postgres")]
    [InlineData("SET app.tenant_id = '42'")]
    [InlineData("SET statement_timeout = 0")]
    [InlineData("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'")]
    [InlineData("SELECT 1; SET standard_conforming_strings = off; SELECT 2")]
    [InlineData("SELECT set_config('standard_conforming_strings', 'off', false)")]
    [InlineData("SELECT pg_catalog.set_config('client_encoding', 'GBK', true)")]
    [InlineData("SELECT set_config('search_path', 'evil, pg_catalog', false)")]
    [InlineData("SELECT id, set_config('app.tenant_id', '7', true) FROM demo.customers")]
    [InlineData("SELECT set_config(n, 'off', false) FROM (VALUES ('standard_conforming_strings')) v(n)")]
    [InlineData("UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'")]
    [InlineData("UPDATE pg_catalog.pg_settings SET setting = '0' WHERE name = 'statement_timeout'")]
    [InlineData("WITH s AS (UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings' RETURNING name) SELECT * FROM s")]
    [InlineData("ALTER ROLE CURRENT_USER SET standard_conforming_strings = off")]
    [InlineData("ALTER USER portcullis_demo_agent SET client_encoding = 'SJIS'")]
    [InlineData("ALTER ROLE CURRENT_USER IN DATABASE portcullis_demo SET search_path = evil, pg_catalog")]
    [InlineData("ALTER DATABASE portcullis_demo SET app.tenant_id = '7'")]
    [InlineData("ALTER ROLE CURRENT_USER SET TimeZone = 'Pacific/Chatham'")]
    public void Settings_outside_what_agents_may_set_are_refused_whatever_the_rules_allow(string sql)
    {
        foreach (var connection in new[] { "open", "approved" })
        {
            var decided = Decide(sql, connection);
            Assert.True(decided is { Decision: Decision.Deny, RuleId: PolicyEvaluator.SessionSettingRule }, $"{connection}: {decided.Decision} {decided.RuleId}");
            Assert.Contains("agents may not change", decided.Reason);
        }
    }

    [Theory]
    [InlineData("SET search_path = demo, public")]
    [InlineData("SET TimeZone = 'Europe/Amsterdam'")]
    [InlineData("SET TIME ZONE 'UTC'")]
    [InlineData("SET DateStyle = ISO, MDY")]
    [InlineData("SET extra_float_digits = 3")]
    [InlineData("SET application_name = 'notebook'")]
    [InlineData("SET LOCAL enable_seqscan = off")]
    [InlineData("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")]
    [InlineData("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED")]
    [InlineData("SELECT set_config('TimeZone', 'UTC', false)")]
    [InlineData("SET statement_timeout TO DEFAULT")]
    [InlineData("RESET standard_conforming_strings")]
    [InlineData("RESET ROLE")]
    [InlineData("SET SESSION AUTHORIZATION DEFAULT")]
    [InlineData("RESET ALL")]
    [InlineData("DISCARD ALL")]
    [InlineData("ALTER ROLE CURRENT_USER RESET ALL")]
    [InlineData("ALTER ROLE CURRENT_USER RESET standard_conforming_strings")]
    [InlineData("SELECT current_setting('standard_conforming_strings'), name FROM pg_settings")]
    public void What_drivers_send_and_going_back_to_the_defaults_stay_with_the_rules(string sql)
    {
        var decided = Decide(sql);
        Assert.True(decided.Decision == Decision.Allow, $"{decided.RuleId}: {decided.Reason}");
    }

    [Fact]
    public void A_rules_own_denial_stands()
    {
        var decided = Decide("SET standard_conforming_strings = off", "ruled");
        Assert.Equal(("no-settings", Decision.Deny), (decided.RuleId, decided.Decision));
    }
}
