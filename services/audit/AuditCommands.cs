using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Marten;
using Npgsql;
using Portcullis.Audit.Projections;
using Portcullis.Audit.Recording;
using Portcullis.Audit.Retention;
using Portcullis.Defaults.Hosting;

namespace Portcullis.Audit;

/// <summary>
/// The audit's command line (System.CommandLine): <c>verify</c>, <c>rebuild</c>, <c>archive</c> and <c>export</c>, straight
/// against the store, each with <c>--help</c>. Without a command the program runs the audit service.
/// Exit codes: 0 done (a chain that holds, for verify); 1 a chain that does not hold, or the work failed; 2 bad
/// usage, or no such session. Long work (rebuild, archive, export) reports progress on standard error.
/// </summary>
public static class AuditCommands
{
    private static readonly string[] Commands = ["verify", "rebuild", "archive", "export", "--help", "-h", "-?", "--version"];

    /// <summary>Whether the arguments name a command (or ask for help) rather than starting the service.</summary>
    public static bool IsCommand(string[] args) => args is [var first, ..] && Commands.Contains(first);

    public static Task<int> InvokeAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var (stdout, stderr) = (output ?? Console.Out, error ?? Console.Error);
        return ServiceCommandLine.InvokeAsync(Root(stdout, stderr), "Portcullis.Audit", args, stdout, stderr, ex => ex switch
        {
            InvalidOperationException => new ServiceCommandLine.Failure(2, ex.Message),
            NpgsqlException => new ServiceCommandLine.Failure(1,
                $"The audit store could not be reached ({ex.Message}); check --connection or ConnectionStrings__Postgres."),
            _ => null,
        });
    }

    private static readonly Option<string?> Connection = new("--connection")
    {
        Description = "The audit store's connection string (default: the environment's ConnectionStrings__Postgres)."
    };

    public static RootCommand Root(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("Portcullis audit: without a command, runs the audit service; with one, works on the store directly.");
        root.Subcommands.Add(Verify(output, error));
        root.Subcommands.Add(Rebuild(output, error));
        root.Subcommands.Add(Archive(output, error));
        root.Subcommands.Add(Export(output, error));
        foreach (var command in root.Subcommands) command.Options.Add(Connection);
        return root;
    }

    private static Command Verify(TextWriter output, TextWriter error)
    {
        var session = new Argument<string>("session") { Description = "The session id whose hash chain to check." };
        var command = new Command("verify", "Checks a session's hash chain, as GET /sessions/{id}/verify does; prints the findings as JSON. " +
                                            "Exit code 0 when it holds, 1 when it does not, 2 when no such session is recorded.") { session };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var store = Store(parse);
            await using var query = store.QuerySession();
            var id = parse.GetValue(session)!;
            var result = await new ChainVerifier(query).VerifyAsync(id, cancellationToken);
            if (result is null)
            {
                error.WriteLine($"No events are recorded for session '{id}'. Check the id (GET /sessions lists them).");
                return 2;
            }
            output.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
            return result.Valid ? 0 : 1;
        });
        return command;
    }

    private static readonly Type[] Projections =
        [typeof(SessionTimelineProjection), typeof(IdentityActivityProjection), typeof(DecisionStatisticsProjection)];

    private static Command Rebuild(TextWriter output, TextWriter error)
    {
        var only = new Option<string?>("--projection")
        {
            Description = "Rebuild only this projection (" + string.Join(", ", Projections.Select(p => p.Name)) + ")."
        };
        var command = new Command("rebuild", "Replays every event into the projections (session timelines, identity activity, decision " +
                                             "statistics), replacing their documents. Stop the audit service first, or its daemon competes.") { only };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var chosen = Projections.Where(p => parse.GetValue(only) is not { } name || p.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).ToList();
            if (chosen.Count == 0)
            {
                error.WriteLine($"No projection is called '{parse.GetValue(only)}'; choose one of {string.Join(", ", Projections.Select(p => p.Name))}.");
                return 2;
            }
            await using var store = Store(parse);
            var total = await HighestSequenceAsync(parse, store, cancellationToken);
            using var daemon = await store.BuildProjectionDaemonAsync();
            foreach (var projection in chosen)
            {
                output.WriteLine($"rebuilding {projection.Name} ({total:N0} events) ...");
                var started = Stopwatch.StartNew();
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var progress = ReportRebuildAsync(error, store, projection.Name, total, started, stop.Token);
                await daemon.RebuildProjectionAsync(projection, TimeSpan.FromMinutes(30), cancellationToken);
                await stop.CancelAsync();
                await progress;
                output.WriteLine($"rebuilt {projection.Name} in {started.Elapsed.TotalSeconds:F1} s " +
                                  $"({Rate(total, started.Elapsed)} events/s)");
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Every two seconds, and once more when the rebuild is over: how far the projection's shard has come, of the
    /// store's highest sequence, and the rate.
    /// </summary>
    private static async Task ReportRebuildAsync(TextWriter error, IDocumentStore store, string projection, long total, Stopwatch started, CancellationToken stop)
    {
        // Marten names a projection's shards without the class's "Projection" (SessionTimeline:All).
        var shard = projection.EndsWith("Projection", StringComparison.Ordinal) ? projection[..^"Projection".Length] : projection;

        async Task Report(CancellationToken cancellationToken)
        {
            var shards = await store.Advanced.AllProjectionProgress(token: cancellationToken);
            var done = shards.Where(s => s.ShardName.Split(':')[0].Equals(shard, StringComparison.OrdinalIgnoreCase))
                .Select(s => s.Sequence).DefaultIfEmpty(0).Max();
            error.WriteLine($"  {projection}: {done:N0} of {total:N0} events ({Percent(done, total)}), " +
                            $"{Rate(done, started.Elapsed)} events/s");
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(2));
        try
        {
            while (await timer.WaitForNextTickAsync(stop)) await Report(stop);
        }
        catch (OperationCanceledException)
        {
            // The rebuild is over (or the command was stopped): where it ended.
        }
        await Report(CancellationToken.None);
    }

    private static Command Archive(TextWriter output, TextWriter error)
    {
        var before = new Option<DateTimeOffset?>("--before")
        {
            Description = "Archive sessions last active before this time (ISO 8601). Default: now minus Audit__Retention."
        };
        var session = new Option<string?>("--session") { Description = "Archive only this session (an erasure request)." };
        var reason = new Option<string>("--reason") { Description = "Recorded with the removal.", DefaultValueFactory = _ => "archive command" };
        var command = new Command("archive", "Archives sessions to JSON Lines files under Audit__ArchiveFolder and removes them from the " +
                                             "store, recording each removal in the audit:retention session.") { before, session, reason };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
            var options = configuration.GetSection("Audit").Get<RetentionOptions>() ?? new RetentionOptions();
            DateTimeOffset cutoff;
            if (parse.GetValue(before) is { } given) cutoff = given;
            else if (options.Retention is { } retention) cutoff = DateTimeOffset.UtcNow - retention;
            else
            {
                error.WriteLine("Give --before <time>, or set Audit__Retention (for example 90.00:00:00) to archive what is older.");
                return 2;
            }
            await using var store = Store(parse);
            var archiver = new SessionArchiver(store, Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System,
                Microsoft.Extensions.Logging.Abstractions.NullLogger<SessionArchiver>.Instance);
            var started = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            var progress = new SynchronousProgress<ArchiveProgress>(p =>
            {
                if (started.Elapsed - lastReport < TimeSpan.FromSeconds(2) && p.Sessions != p.Of) return;
                lastReport = started.Elapsed;
                error.WriteLine($"  archived {p.Sessions:N0} of {p.Of:N0} sessions ({Percent(p.Sessions, p.Of)}), " +
                                        $"{p.Events:N0} events, {Rate(p.Events, started.Elapsed)} events/s");
            });
            var count = await archiver.ArchiveAsync(cutoff, parse.GetValue(session), parse.GetValue(reason)!, cancellationToken, progress);
            output.WriteLine($"archived {count} session(s) to {Path.GetFullPath(options.ArchiveFolder)}");
            return 0;
        });
        return command;
    }

    private static Command Export(TextWriter output, TextWriter error)
    {
        var from = new Option<DateTimeOffset>("--from") { Description = "First recording time included (ISO 8601).", Required = true };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Recording time excluded (ISO 8601). Default: now." };
        var outputFile = new Option<FileInfo?>("--output") { Description = "Write to this file instead of standard output." };
        var command = new Command("export", "Every event recorded in [from, to), as JSON Lines in recording order (the form of GET /export " +
                                            "and of the archive files).") { from, to, outputFile };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var store = Store(parse);
            await using var query = store.QuerySession();
            var file = parse.GetValue(outputFile);
            await using var target = file is null ? Console.OpenStandardOutput() : file.Create();
            var (start, end) = (parse.GetValue(from), parse.GetValue(to) ?? DateTimeOffset.UtcNow);
            var started = Stopwatch.StartNew();
            var lastReport = TimeSpan.Zero;
            long written = 0;
            await foreach (var e in query.Events.QueryAllRawEvents().Where(e => e.Timestamp >= start && e.Timestamp < end)
                               .OrderBy(e => e.Sequence).ToAsyncEnumerable(cancellationToken))
            {
                await target.WriteAsync(EventLine.Serialize(e), cancellationToken);
                written++;
                if (started.Elapsed - lastReport < TimeSpan.FromSeconds(2)) continue;
                lastReport = started.Elapsed;
                error.WriteLine($"  exported {written:N0} events, {Rate(written, started.Elapsed)} events/s");
            }
            error.WriteLine($"exported {written:N0} events in {started.Elapsed.TotalSeconds:F1} s" +
                                    (file is null ? "" : $" to {file.FullName}"));
            return 0;
        });
        return command;
    }

    private static string ConnectionString(ParseResult parse) =>
        (parse.GetValue(Connection) ?? Environment.GetEnvironmentVariable("ConnectionStrings__Postgres")) is { Length: > 0 } connection
            ? connection
            : throw new InvalidOperationException("Give --connection or set ConnectionStrings__Postgres to the audit store's connection string.");

    private static DocumentStore Store(ParseResult parse) =>
        DocumentStore.For(options => Extensions.ConfigureStore(options, ConnectionString(parse)));

    /// <summary>The store's highest event sequence: what a rebuild has to reach.</summary>
    private static async Task<long> HighestSequenceAsync(ParseResult parse, DocumentStore store, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(parse));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT coalesce(max(seq_id), 0) FROM {store.Options.Events.DatabaseSchemaName}.mt_events", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static string Percent(long done, long of) => of == 0 ? "100%" : $"{Math.Min(100, 100.0 * done / of):F0}%";

    private static string Rate(long count, TimeSpan elapsed) => elapsed.TotalSeconds < 0.001 ? "-" : $"{count / elapsed.TotalSeconds:N0}";

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the thread pool, which can reorder lines).</summary>
    private sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
