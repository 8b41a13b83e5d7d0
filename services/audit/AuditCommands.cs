using System.Text.Json;
using Marten;
using Portcullis.Audit.Recording;

namespace Portcullis.Audit;

public static class AuditCommands
{
    /// <summary>
    /// Replays every event into the projections (session timelines, identity activity, decision statistics),
    /// replacing their documents. Run it with the audit service stopped, or it competes with the service's daemon.
    /// </summary>
    public static async Task<int> RebuildAsync(string[] args)
    {
        await using var store = DocumentStore.For(options => Extensions.ConfigureStore(options, ConnectionString(args, 1)));
        using var daemon = await store.BuildProjectionDaemonAsync();
        foreach (var projection in new[] { typeof(Projections.SessionTimelineProjection), typeof(Projections.IdentityActivityProjection),
                     typeof(Projections.DecisionStatisticsProjection) })
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            Console.WriteLine($"rebuilding {projection.Name} ...");
            await daemon.RebuildProjectionAsync(projection, TimeSpan.FromMinutes(30), CancellationToken.None);
            Console.WriteLine($"rebuilt {projection.Name} in {started.Elapsed.TotalSeconds:F1} s");
        }
        return 0;
    }

    /// <summary>
    /// Archives and removes sessions now: those last active before <c>--before</c> (default: now minus
    /// Audit:Retention), or with <c>--session</c> just that one (an erasure request). Prints the count.
    /// </summary>
    public static async Task<int> ArchiveAsync(string[] args)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args.Skip(1).ToArray()).Build();
        var options = configuration.GetSection("Audit").Get<Retention.RetentionOptions>() ?? new Retention.RetentionOptions();
        var before = configuration["before"] is { } text ? DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture)
            : options.Retention is { } retention ? DateTimeOffset.UtcNow - retention
            : throw new InvalidOperationException("Give --before <time> or set Audit__Retention.");
        await using var store = DocumentStore.For(o => Extensions.ConfigureStore(o, ConnectionString(args, 1)));
        var archiver = new Retention.SessionArchiver(store, Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<Retention.SessionArchiver>.Instance);
        var count = await archiver.ArchiveAsync(before, configuration["session"], configuration["reason"] ?? "archive command",
            CancellationToken.None);
        Console.WriteLine($"archived {count} session(s) to {Path.GetFullPath(options.ArchiveFolder)}");
        return 0;
    }

    private static string ConnectionString(string[] args, int skip)
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args.Skip(skip).ToArray()).Build();
        return configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("Set ConnectionStrings__Postgres to the audit store's connection string.");
    }

    /// <summary>Verifies a session's chain; exit code 0 when it holds, 1 when it does not, 2 when there is no such session.</summary>
    public static async Task<int> VerifyAsync(string sessionId, string[] args)
    {
        await using var store = DocumentStore.For(options => Extensions.ConfigureStore(options, ConnectionString(args, 2)));
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
