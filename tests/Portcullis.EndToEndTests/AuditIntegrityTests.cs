using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MassTransit;
using Npgsql;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>The audit record resists tampering and duplicates: hash-chained streams, exactly-once storage.</summary>
[Collection(StackCollection.Name)]
public sealed class AuditIntegrityTests(PortcullisStack stack)
{
    private async Task<JsonElement> Verify(string session)
    {
        using var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/verify");
        using var response = await stack.Audit.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task A_session_verifies_and_changing_one_stored_event_names_that_event()
    {
        var session = "e2e-tamper-" + Guid.NewGuid().ToString("N")[..8];
        using (var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/2", session))
        using (var response = await stack.Gateway.SendAsync(request))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await stack.TimelineAsync(session, t => t.GetProperty("events").GetArrayLength() >= 5);

        var intact = await Verify(session);
        Assert.True(intact.GetProperty("valid").GetBoolean());
        Assert.Equal(5, intact.GetProperty("events").GetInt32());

        // An operator with database access "corrects" the upstream's status code of the third event.
        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var tamper = new NpgsqlCommand(
                "UPDATE audit.mt_events SET data = jsonb_set(data, '{StatusCode}', '500', false) WHERE stream_id = $1 AND version = 3", connection);
            tamper.Parameters.AddWithValue(session);
            Assert.Equal(1, await tamper.ExecuteNonQueryAsync());
        }

        var broken = await Verify(session);
        Assert.False(broken.GetProperty("valid").GetBoolean());
        Assert.Equal(3, broken.GetProperty("firstInvalid").GetProperty("version").GetInt64());
        Assert.Equal("RequestForwarded", broken.GetProperty("firstInvalid").GetProperty("type").GetString());

        // The command-line form says the same, with its exit code.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { stack.AssemblyOf("audit"), "verify", session }) start.ArgumentList.Add(arg);
        start.Environment["ConnectionStrings__Postgres"] = stack.AdminConnectionString;
        using var cli = Process.Start(start)!;
        var output = await cli.StandardOutput.ReadToEndAsync();
        await cli.WaitForExitAsync();
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("\"version\": 3", output);
    }

    [Fact]
    public async Task A_message_delivered_twice_is_stored_once()
    {
        var session = "e2e-duplicate-" + Guid.NewGuid().ToString("N")[..8];
        var bus = await stack.StartBusAsync();
        try
        {
            var principal = new Principal("dup-agent", "dup-agent", ["agents"]);
            var received = new RequestReceived(Guid.NewGuid(), session, principal,
                new AgentAction(Protocols.Http, "demo", "GET", "/customers/1"), DateTimeOffset.UtcNow);
            var messageId = NewId.NextGuid();
            await bus.Publish(received, context => context.MessageId = messageId);
            await bus.Publish(received, context => context.MessageId = messageId); // the broker redelivers, say
            // A later message of the same session: once it is recorded, both deliveries before it were handled.
            await bus.Publish(new RequestCompleted(received.RequestId, session, Outcomes.Denied, 403, 1, null, DateTimeOffset.UtcNow));
        }
        finally
        {
            await bus.StopAsync();
        }

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));
        // The policy service decides each delivery it gets (its decisions are messages of their own); the audit
        // stores the one RequestReceived once.
        Assert.Single(timeline.GetProperty("events").EnumerateArray(), e => e.GetProperty("type").GetString() == "RequestReceived");
        // The chain holds; what verify may report is the policy's second decision of the one request, which it is right to.
        var verified = await Verify(session);
        Assert.True(verified.GetProperty("chainIntact").GetBoolean(), verified.ToString());
        Assert.All(verified.GetProperty("findings").EnumerateArray(), f => Assert.Equal("PolicyEvaluated", f.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Killing_the_audit_service_in_the_middle_of_10000_events_loses_and_duplicates_none()
    {
        const int total = 10_000;
        var session = "e2e-kill-" + Guid.NewGuid().ToString("N")[..8];
        var bus = await stack.StartBusAsync();
        try
        {
            var publishing = Task.Run(async () =>
            {
                for (var batch = 0; batch < total; batch += 100)
                    await Task.WhenAll(Enumerable.Range(batch, 100).Select(i => bus.Publish(new RequestForwarded(
                        Guid.NewGuid(), session, "demo", "http://upstream", 200, i, 1.0, DateTimeOffset.UtcNow))));
            });

            await UntilStored(session, atLeast: 1500, TimeSpan.FromSeconds(120));
            await stack.StopAsync("audit"); // Process.Kill: SIGKILL, mid-transaction for all it knows
            await publishing;
            await stack.StartAsync("audit");
            await UntilStored(session, atLeast: total, TimeSpan.FromSeconds(240));
            await Task.Delay(TimeSpan.FromSeconds(2)); // anything redelivered late would land now

            var (events, distinct) = await Count(session);
            Assert.Equal(total, events);
            Assert.Equal(total, distinct);
            // The chain holds (the executions published alone, without their requests, are verify's other findings).
            Assert.True((await Verify(session)).GetProperty("chainIntact").GetBoolean());
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    private async Task<(long Events, long DistinctMessages)> Count(string session)
    {
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand(
            "SELECT count(*), count(DISTINCT headers->>'message_id') FROM audit.mt_events WHERE stream_id = $1", connection);
        count.Parameters.AddWithValue(session);
        await using var reader = await count.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private async Task UntilStored(string session, int atLeast, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        long events = 0;
        while (DateTime.UtcNow < deadline)
        {
            (events, _) = await Count(session);
            if (events >= atLeast) return;
            await Task.Delay(250);
        }
        Assert.Fail($"only {events} of {atLeast} events were stored within {timeout.TotalSeconds} s");
    }
}
