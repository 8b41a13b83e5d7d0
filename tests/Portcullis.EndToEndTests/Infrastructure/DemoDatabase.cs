using Npgsql;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>The demo schema (services/demo/database/demo-database.sql) in the test database, with a login of its own.</summary>
public static class DemoDatabase
{
    public const string AgentRole = "portcullis_test_agent";

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
