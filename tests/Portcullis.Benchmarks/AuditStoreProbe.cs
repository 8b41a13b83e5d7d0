using System.Diagnostics;
using Marten;
using Microsoft.Extensions.Logging.Abstractions;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;

namespace Portcullis.Benchmarks;

/// <summary>
/// The audit's storage alone, without the bus: events recorded through <see cref="SessionRecorder"/> in
/// batches of 500 (as the ingest stores them), against the chain hashing alone in the same run.
/// </summary>
public static class AuditStoreProbe
{
    public static async Task RunAsync(int events)
    {
        var postgres = Environment.GetEnvironmentVariable("PORTCULLIS_POSTGRES")
            ?? throw new InvalidOperationException("Start the servers first: scripts/servers.sh start && . .local/servers.env");
        Console.WriteLine($"scripts/servers.sh start && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-store {events}");
        await StoreDurability.PrintAsync(postgres);
        await using var store = DocumentStore.For(options => Portcullis.Audit.Extensions.ConfigureStore(options, postgres));
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();

        for (var round = 0; round < 6; round++)
        {
            var run = $"store-{Guid.NewGuid():N}"[..20];
            var arrivals = Enumerable.Range(0, events).Select(i => new Arrival(new RequestForwarded(Guid.NewGuid(), $"{run}-{i % 50}",
                "demo", "http://upstream", 200, i, 1.0, DateTimeOffset.UtcNow), Guid.NewGuid().ToString())).ToArray();

            var clock = Stopwatch.StartNew();
            var previous = AuditChain.Genesis;
            foreach (var (message, id) in arrivals) previous = AuditChain.Hash(previous, id, message.GetType().Name, message);
            var hashing = clock.Elapsed;

            clock.Restart();
            foreach (var batch in arrivals.Chunk(500))
            {
                await using var session = store.LightweightSession();
                await new SessionRecorder(session, NullLogger<SessionRecorder>.Instance).RecordAsync(batch, CancellationToken.None);
            }
            var storing = clock.Elapsed;
            Console.WriteLine($"round {round + 1}: hashing alone {events / hashing.TotalSeconds,9:0} events/s; recorded (hash + store, 50 sessions, batches of 500) {events / storing.TotalSeconds,7:0} events/s");
        }
    }
}
