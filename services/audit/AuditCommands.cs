using System.Text.Json;
using Marten;
using Portcullis.Audit.Recording;

namespace Portcullis.Audit;

public static class AuditCommands
{
    /// <summary>Verifies a session's chain; exit code 0 when it holds, 1 when it does not, 2 when there is no such session.</summary>
    public static async Task<int> VerifyAsync(string sessionId, string[] args)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args.Skip(2).ToArray()).Build();
        var connectionString = configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("Set ConnectionStrings__Postgres to the audit store's connection string.");
        await using var store = DocumentStore.For(options => Extensions.ConfigureStore(options, connectionString));
        await using var session = store.QuerySession();
        var result = await new ChainVerifier(session).VerifyAsync(sessionId, CancellationToken.None);
        if (result is null)
        {
            Console.Error.WriteLine($"No events are recorded for session '{sessionId}'.");
            return 2;
        }
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
        return result.Valid ? 0 : 1;
    }
}
