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
        var rabbit = Environment.GetEnvironmentVariable("PORTCULLIS_RABBITMQ");
        var postgres = Environment.GetEnvironmentVariable("PORTCULLIS_POSTGRES");
        if (rabbit is null || postgres is null)
            throw new InvalidOperationException("Run against the stack: make up, then . .local/servers.env before this command.");
        Console.WriteLine($"make up && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-ingest {events}");

        var broker = BrokerAddress.Parse(rabbit);
        var bus = Bus.Factory.CreateUsingRabbitMq(r => r.Host(broker.Host, broker.Port, broker.VirtualHost, h =>
        {
            h.Username(broker.Username);
            h.Password(broker.Password);
        }));
        await bus.StartAsync();
        try
        {
            // events/s: the whole path (publish with confirms, then store). drain events/s: what the audit stored per
            // second after publishing ended, with the publisher no longer competing for the CPU.
            Console.WriteLine("| sessions | events | seconds | events/s | stored when publishing ended | drain events/s |");
            Console.WriteLine("|---------:|-------:|--------:|---------:|-----------------------------:|---------------:|");
            string? single = null;
            foreach (var sessions in new[] { 1, 50 })
            {
                var run = $"bench-{sessions}-{Guid.NewGuid():N}"[..24];
                var clock = Stopwatch.StartNew();
                for (var batch = 0; batch < events; batch += 200)
                    await Task.WhenAll(Enumerable.Range(batch, Math.Min(200, events - batch)).Select(i => bus.Publish(new RequestForwarded(
                        Guid.NewGuid(), $"{run}-{i % sessions}", "demo", "http://upstream", 200, i, 1.0, DateTimeOffset.UtcNow))));
                var published = clock.Elapsed;
                var storedThen = await Stored(postgres, run);
                while (await Stored(postgres, run) < events) await Task.Delay(20);
                clock.Stop();
                var drain = clock.Elapsed - published;
                var drainRate = storedThen < events && drain > TimeSpan.Zero ? $"{(events - storedThen) / drain.TotalSeconds,14:0}" : "   (kept pace)";
                Console.WriteLine($"| {sessions,8} | {events,6} | {clock.Elapsed.TotalSeconds,7:0.00} | {events / clock.Elapsed.TotalSeconds,8:0} | {storedThen,28} | {drainRate} |");
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

    private static async Task<long> Stored(string postgres, string run)
    {
        await using var connection = new NpgsqlConnection(postgres);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM audit.mt_events WHERE stream_id LIKE $1", connection);
        count.Parameters.AddWithValue(run + "-%");
        return (long)(await count.ExecuteScalarAsync())!;
    }
}
