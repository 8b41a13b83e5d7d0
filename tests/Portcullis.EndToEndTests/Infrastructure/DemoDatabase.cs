using Npgsql;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>The demo schema (services/demo/database/demo-database.sql) in the test database, with a login of its own.</summary>
public static class DemoDatabase
{
    /// <summary>
    /// The agent's login. Roles are cluster-wide, so runs that share one server at once (PORTCULLIS_TEST_NAME,
    /// scripts/servers.sh test-env) each have their own, or one run's password would lock the other out.
    /// </summary>
    public static readonly string AgentRole = "portcullis_test_agent" +
        (Environment.GetEnvironmentVariable("PORTCULLIS_TEST_NAME") is { Length: > 0 } name ? "_" + name : "");

    /// <summary>Seeds the schema and returns the connection string for the agent role (without its password).</summary>
    public static async Task<string> SeedAsync(string adminConnectionString, string repositoryRoot, string password)
    {
        var script = (await File.ReadAllTextAsync(Path.Combine(repositoryRoot, "services", "demo", "database", "demo-database.sql")))
            .Replace("{{agent_role}}", AgentRole);
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync();
        await using (var seed = new NpgsqlCommand(script, connection)) await seed.ExecuteNonQueryAsync();
        await using (var login = new NpgsqlCommand($"ALTER ROLE {AgentRole} PASSWORD '{password}'", connection)) await login.ExecuteNonQueryAsync();

        var builder = new NpgsqlConnectionStringBuilder(adminConnectionString) { Username = AgentRole, Password = null };
        return builder.ConnectionString;
    }

    /// <summary>The schema an agent may put first in its search_path to shadow pg_catalog in the search_path tests.</summary>
    public const string ShadowSchema = "e2e_shadow";

    /// <summary>
    /// Creates <see cref="ShadowSchema"/> (the agent may use it) holding an = on oids that is never true: a catalogue query
    /// of the gateway's that wrote a bare = would, with that schema first in the agent's search_path, join nothing.
    /// A schema of its own, so the demo schema's listing (which other tests read through a max_rows cap) is unchanged.
    /// </summary>
    public static async Task CreateShadowingOperatorAsync(NpgsqlConnection admin)
    {
        await using var command = new NpgsqlCommand($"""
            CREATE SCHEMA IF NOT EXISTS {ShadowSchema};
            CREATE OR REPLACE FUNCTION {ShadowSchema}.never(oid, oid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
            DO $$ BEGIN
                CREATE OPERATOR {ShadowSchema}.= (leftarg = oid, rightarg = oid, function = {ShadowSchema}.never);
            EXCEPTION WHEN duplicate_function OR duplicate_object THEN NULL; END $$;
            GRANT USAGE ON SCHEMA {ShadowSchema} TO "{AgentRole}";
            """, admin);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Functions in <see cref="ShadowSchema"/> (the agent may call them) that leave session state behind without their
    /// caller's text saying so: a prepared statement made by dynamic SQL, and a session-level setting.
    /// </summary>
    public static async Task CreateSessionStateFunctionsAsync(NpgsqlConnection admin)
    {
        await using var command = new NpgsqlCommand($"""
            CREATE SCHEMA IF NOT EXISTS {ShadowSchema};
            CREATE OR REPLACE FUNCTION {ShadowSchema}.make_statement(name text) RETURNS text LANGUAGE plpgsql AS $$
                BEGIN EXECUTE format('PREP' || 'ARE %I AS SELECT %L', name, 'made by a function'); RETURN name; END $$;
            CREATE OR REPLACE FUNCTION {ShadowSchema}.set_zone(zone text) RETURNS text LANGUAGE sql AS
                $$ SELECT pg_catalog.set_config('TimeZone', zone, false) $$;
            GRANT USAGE ON SCHEMA {ShadowSchema} TO "{AgentRole}";
            """, admin);
        await command.ExecuteNonQueryAsync();
    }
}
