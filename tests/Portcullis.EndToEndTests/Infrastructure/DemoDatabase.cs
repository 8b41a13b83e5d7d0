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
}
