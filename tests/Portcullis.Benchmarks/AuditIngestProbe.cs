using System.Diagnostics;
using Marten;
using MassTransit;
using Npgsql;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;

namespace Portcullis.Benchmarks;

/// <summary>
/// Sustained ingest through the bus into the running audit service (events per second until all are
/// stored), for one session (every event strictly after the last: the baseline) and for many sessions at
/// once; then the time to rebuild a 10,000-event session from its stream.
/// </summary>
public static class AuditIngestProbe
{
    public static async Task RunAsync(int events)
    {
        var (postgres, bus) = await ConnectAsync();
        Console.WriteLine($"make up && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-ingest {events}");
        await StoreDurability.PrintAsync(postgres);
        try
        {
            // events/s: the whole path (publish with confirms, then store). drain events/s: what the audit stored per
            // second after publishing ended, with the publisher no longer competing for the CPU.
            Console.WriteLine("| sessions | events | seconds | events/s | stored when publishing ended | drain events/s | projected at s |");
            Console.WriteLine("|---------:|-------:|--------:|---------:|-----------------------------:|---------------:|---------------:|");
            string? single = null;
            foreach (var sessions in new[] { 1, 50 })
            {
                var run = $"bench-{sessions}-{Guid.NewGuid():N}"[..24];
                var clock = Stopwatch.StartNew();
                await PublishAsync(bus, events, run, sessions);
                var published = clock.Elapsed;
                var storedThen = await Stored(postgres, run, sessions);
                while (await Stored(postgres, run, sessions) < events) await Task.Delay(20);
                var stored = clock.Elapsed;
                var drain = stored - published;
                var drainRate = storedThen < events && drain > TimeSpan.Zero ? $"{(events - storedThen) / drain.TotalSeconds,14:0}" : "   (kept pace)";
                var projected = await ProjectedAtAsync(postgres, run, sessions, clock);
                Console.WriteLine($"| {sessions,8} | {events,6} | {stored.TotalSeconds,7:0.00} | {events / stored.TotalSeconds,8:0} | {storedThen,28} | {drainRate} | {projected} |");
                if (sessions == 1) single = $"{run}-0";
            }

            await using var store = DocumentStore.For(options => Portcullis.Audit.Extensions.ConfigureStore(options, postgres));
            var times = new List<double>();
            for (var i = 0; i < 5; i++)
            {
                await using var session = store.QuerySession();
                var clock = Stopwatch.StartNew();
                var stream = await session.Events.FetchStreamAsync(single!);
                var timeline = stream.Select(e => (e.Version, e.EventType.Name, e.Data)).ToList();
                clock.Stop();
                times.Add(clock.Elapsed.TotalMilliseconds);
                if (timeline.Count != events) throw new InvalidOperationException($"rebuilt {timeline.Count} events, not {events}");
            }
            times.Sort();
            Console.WriteLine($"\nRebuilding the {events}-event session from its stream: median {times[2]:0} ms (of 5; min {times[0]:0}, max {times[4]:0})");

            // The same session replayed through the timeline projection into its document, and the document as stored.
            var replayed = new List<double>();
            var loaded = new List<double>();
            for (var i = 0; i < 5; i++)
            {
                await using var session = store.QuerySession();
                var clock = Stopwatch.StartNew();
                var timeline = await session.Events.AggregateStreamAsync<Portcullis.Audit.Projections.SessionTimeline>(single!);
                replayed.Add(clock.Elapsed.TotalMilliseconds);
                if (timeline?.Events != events) throw new InvalidOperationException($"the timeline holds {timeline?.Events} events, not {events}");
                clock.Restart();
                var stored = await session.LoadAsync<Portcullis.Audit.Projections.SessionTimeline>(single!);
                loaded.Add(clock.Elapsed.TotalMilliseconds);
                if (stored is null) Console.WriteLine("(the projection daemon has not written the timeline document yet)");
            }
            replayed.Sort();
            loaded.Sort();
            Console.WriteLine($"Replaying it through the timeline projection: median {replayed[2]:0} ms (min {replayed[0]:0}, max {replayed[4]:0})");
            Console.WriteLine($"Reading its projected timeline document: median {loaded[2]:0.0} ms (min {loaded[0]:0.0}, max {loaded[4]:0.0})");
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    /// <summary>
    /// Sustained ingest of a backlog: the audit service is paused (SIGSTOP) while the events are published, then
    /// resumed (SIGCONT), and timed from then until all are stored. Nothing else runs meanwhile, so the figure is
    /// the audit's own (with its projection daemon, unless the stack runs with Audit__Projections=Disabled),
    /// not shared with a publisher on the same cores. Its consumer's connection must outlive the pause: keep
    /// the backlog small enough to publish within RabbitMQ's heartbeat timeout (60 s).
    /// </summary>
    public static async Task DrainAsync(int events, string pidFile)
    {
        if (!File.Exists(pidFile)) throw new InvalidOperationException($"{pidFile} not found: is the stack up (make up)?");
        var pid = File.ReadAllText(pidFile).Trim();
        var (postgres, bus) = await ConnectAsync();
        Console.WriteLine($"make up && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-drain {events}");
        await StoreDurability.PrintAsync(postgres);
        try
        {
            Console.WriteLine("| sessions | events | published in s | drained in s | events/s | projected at s |");
            Console.WriteLine("|---------:|-------:|--------------:|-------------:|---------:|---------------:|");
            foreach (var sessions in new[] { 1, 50 })
            {
                var run = $"drain-{sessions}-{Guid.NewGuid():N}"[..24];
                await Signal("STOP", pid);
                var clock = Stopwatch.StartNew();
                try
                {
                    await PublishAsync(bus, events, run, sessions);
                }
                finally
                {
                    await Signal("CONT", pid);
                }
                var published = clock.Elapsed;
                clock.Restart();
                var lastMove = TimeSpan.Zero;
                for (long stored = 0, before = -1; (stored = await Stored(postgres, run, sessions)) < events; await Task.Delay(20))
                {
                    if (stored != before) (before, lastMove) = (stored, clock.Elapsed);
                    else if (clock.Elapsed - lastMove > TimeSpan.FromSeconds(30))
                        throw new InvalidOperationException($"stored {stored} of {events} and no progress for 30 s: see .local/logs/audit.log");
                }
                var drained = clock.Elapsed;
                var projected = await ProjectedAtAsync(postgres, run, sessions, clock);
                Console.WriteLine($"| {sessions,8} | {events,6} | {published.TotalSeconds,13:0.00} | {drained.TotalSeconds,12:0.00} | {events / drained.TotalSeconds,8:0} | {projected} |");
            }
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    private static async Task<(string Postgres, IBusControl Bus)> ConnectAsync()
    {
        var rabbit = Environment.GetEnvironmentVariable("PORTCULLIS_RABBITMQ");
        var postgres = Environment.GetEnvironmentVariable("PORTCULLIS_POSTGRES");
        if (rabbit is null || postgres is null)
            throw new InvalidOperationException("Run against the stack: make up, then . .local/servers.env before this command.");
        var broker = BrokerAddress.Parse(rabbit);
        var bus = Bus.Factory.CreateUsingRabbitMq(r => r.Host(broker.Host, broker.Port, broker.VirtualHost, h =>
        {
            h.Username(broker.Username);
            h.Password(broker.Password);
        }));
        await bus.StartAsync();
        return (postgres, bus);
    }

    // Requests as the services publish them after the gateway received them: evaluated, forwarded, masked,
    // completed (RequestReceived is left out: the policy service would evaluate it and publish more), spread
    // over the run's sessions. Up to 1,000 publishes await their confirms at once.
    private static async Task PublishAsync(IBus bus, int events, string run, int sessions)
    {
        var requests = Enumerable.Range(0, events / 4 + 1).Select(_ => Guid.NewGuid()).ToArray();
        var inFlight = new List<Task>(1000);
        for (var i = 0; i < events; i++)
        {
            inFlight.Add(bus.Publish(RequestEvent(i, requests[i / 4], $"{run}-{i / 4 % sessions}")));
            if (inFlight.Count == 1000)
            {
                await Task.WhenAll(inFlight);
                inFlight.Clear();
            }
        }
        await Task.WhenAll(inFlight);
    }

    // When the projections (one daemon, three projections) caught up with the run, in seconds on the clock; not
    // at all when they do not move for 10 s (Audit__Projections=Disabled leaves them to another node).
    private static async Task<string> ProjectedAtAsync(string postgres, string run, int sessions, Stopwatch clock)
    {
        var last = await LastSequence(postgres, run, sessions);
        var (progress, moved) = (await Projected(postgres), clock.Elapsed);
        while (progress < last && clock.Elapsed - moved < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
            var now = await Projected(postgres);
            if (now != progress) (progress, moved) = (now, clock.Elapsed);
        }
        return progress >= last ? $"{clock.Elapsed.TotalSeconds,14:0.00}" : "   (no daemon)";
    }

    private static async Task Signal(string signal, string pid)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid]);
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {pid} failed");
    }

    // One of the four events of request i / 4, with what the services really put in them.
    private static object RequestEvent(int i, Guid request, string session)
    {
        var at = DateTimeOffset.UtcNow;
        var principal = new Principal("bench-agent", "bench-agent", ["agents", "analysts"]);
        var action = new AgentAction(Protocols.Http, "demo", "GET", $"/customers/{i / 5}", "?fields=name,email");
        return (i % 4) switch
        {
            0 => new PolicyEvaluated(request, session, Decision.Allow, "http-read", "Reads are allowed.", ["http-read"], [], "v1",
                principal, action, at),
            1 => new RequestForwarded(request, session, "demo", "http://127.0.0.1:5090", 200, 4210, 3.2, at),
            2 => new ResponseMasked(request, session, new Dictionary<string, int> { ["EMAIL"] = 1, ["PHONE"] = 1 }, ["mask-pii"],
                4210, 4188, at, new Dictionary<string, int> { ["mask-pii"] = 2 }, "demo"),
            _ => new RequestCompleted(request, session, Outcomes.Completed, 200, 4.1,
                new CapturedOutput("application/json", "{\"id\":1,\"name\":\"Ada\",\"email\":\"[EMAIL]\"}", 4188, new string('a', 64), false), at),
        };
    }

    private static async Task<long> LastSequence(string postgres, string run, int sessions)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var last = new NpgsqlCommand("SELECT max(seq_id) FROM audit.mt_events WHERE stream_id = ANY($1)", connection);
        last.Parameters.AddWithValue(Enumerable.Range(0, sessions).Select(i => $"{run}-{i}").ToArray());
        return (long)(await last.ExecuteScalarAsync())!;
    }

    // How far the slowest projection has got.
    private static async Task<long> Projected(string postgres)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var progress = new NpgsqlCommand(
            "SELECT coalesce(min(last_seq_id), 0) FROM audit.mt_event_progression WHERE name LIKE '%:All'", connection);
        return (long)(await progress.ExecuteScalarAsync())!;
    }

    // The run's sessions' chain heads (written in the same transaction as their events) by primary key: a count
    // over the events table would scan it, and the scan, every 20 ms, would compete with the ingest it measures.
    private static async Task<long> Stored(string postgres, string run, int sessions)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand(
            "SELECT coalesce(sum((data->>'Events')::bigint), 0)::bigint FROM audit.mt_doc_sessionchain WHERE id = ANY($1)", connection);
        count.Parameters.AddWithValue(Enumerable.Range(0, sessions).Select(i => $"{run}-{i}").ToArray());
        return (long)(await count.ExecuteScalarAsync())!;
    }
}
