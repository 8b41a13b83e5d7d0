using Npgsql;

namespace Portcullis.Benchmarks;

/// <summary>The PostgreSQL settings that decide what a commit costs; every store probe prints them first.</summary>
public static class StoreDurability
{
    public static async Task PrintAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var settings = new List<string>();
        foreach (var name in new[] { "fsync", "synchronous_commit", "full_page_writes" })
        {
            await using var show = new NpgsqlCommand($"SHOW {name}", connection);
            settings.Add($"{name}={await show.ExecuteScalarAsync()}");
        }
        Console.WriteLine($"PostgreSQL durability: {string.Join(" ", settings)}");
    }
}
