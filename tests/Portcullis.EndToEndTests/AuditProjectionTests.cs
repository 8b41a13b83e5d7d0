using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using MassTransit;
using Portcullis.Contracts;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The audit's projections, search and retention, on the running stack: a session's timeline document, the
/// same after a full rebuild; search by identity, connection, outcome and time; activity per identity and
/// decision statistics; a session archived to JSON Lines, removed, and the removal recorded.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class AuditProjectionTests(PortcullisStack stack)
{
    private async Task<JsonElement> Get(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, path);
        using var response = await stack.Audit.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private async Task Agent(string session, string path)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, path, session);
        using var response = await stack.Gateway.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
    }

    private async Task<JsonElement> EventuallyAsync(string path, Func<JsonElement, bool> until)
    {
        // The projections are asynchronous (Marten's daemon): on a machine busy with the whole suite they trail the
        // record by tens of seconds, which is their design; what is asserted is the state they reach.
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonElement last = default;
        while (DateTime.UtcNow < deadline)
        {
            using var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, path);
            using var response = await stack.Audit.SendAsync(request);
            if (response.IsSuccessStatusCode)
            {
                last = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                if (until(last)) return last;
            }
            await Task.Delay(250);
        }
        throw new Xunit.Sdk.XunitException($"GET {path} did not reach the expected state; last: {last}");
    }

    private async Task<string> AuditCommand(params string[] arguments) => (await AuditCommandWithProgress(arguments)).Output;

    /// <summary>Runs the audit's command line on the stack's store: what it printed on standard output and on standard error.</summary>
    private async Task<(string Output, string Errors)> AuditCommandWithProgress(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(stack.AssemblyOf("audit"));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["ConnectionStrings__Postgres"] = stack.AdminConnectionString;
        start.Environment["Audit__ArchiveFolder"] = Path.Combine(stack.RunDirectory, "archive");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"audit {string.Join(' ', arguments)} failed: {await errors}");
        return (await output, await errors);
    }

    [Fact]
    public async Task A_session_of_a_few_hundred_events_rebuilds_to_the_same_timeline()
    {
        var session = "e2e-rebuild-" + Guid.NewGuid().ToString("N")[..8];
        for (var i = 1; i <= 60; i++)
            await Agent(session, i % 10 == 0 ? "http/demo/admin/config" : $"http/demo/customers/{1 + i % 3}");
        // 54 allowed requests of 5 events each and 6 denied ones of 3: 288 events.
        var before = await EventuallyAsync($"sessions/{session}/timeline", t => t.GetProperty("events").GetInt64() == 288);
        Assert.Equal(PortcullisStack.AgentClient, before.GetProperty("subject").GetString());
        Assert.Equal(60, before.GetProperty("steps").GetArrayLength());
        Assert.Equal(6, before.GetProperty("denied").GetInt32());
        Assert.Equal("agents-no-admin", before.GetProperty("steps")[9].GetProperty("rule").GetString());
        Assert.True(before.GetProperty("maskedValues").GetInt32() >= 54);

        await stack.StopAsync("audit");
        try
        {
            var output = await AuditCommand("rebuild");
            Assert.Matches(@"rebuilt SessionTimelineProjection in [0-9.]+ s \([0-9,]+ events/s\)", output);
            Assert.Contains("rebuilt DecisionStatisticsProjection", output);
        }
        finally
        {
            await stack.StartAsync("audit");
        }
        var after = await Get($"sessions/{session}/timeline");
        Assert.Equal(before.ToString(), after.ToString());
    }

    [Fact]
    public async Task A_rebuild_of_a_large_store_prints_its_progress_and_rate_for_each_projection()
    {
        // 20,000 events of 5,000 requests over 50 sessions, published as the services publish them, stored by the audit.
        const int Events = 20_000;
        var run = "e2e-large-" + Guid.NewGuid().ToString("N")[..8];
        var bus = await stack.StartBusAsync();
        try
        {
            var requests = Enumerable.Range(0, Events / 4).Select(_ => Guid.NewGuid()).ToArray();
            var inFlight = new List<Task>(1000);
            for (var i = 0; i < Events; i++)
            {
                inFlight.Add(bus.Publish(RequestEvent(i, requests[i / 4], $"{run}-{i / 4 % 50}")));
                if (inFlight.Count < 1000) continue;
                await Task.WhenAll(inFlight);
                inFlight.Clear();
            }
            await Task.WhenAll(inFlight);
        }
        finally
        {
            await bus.StopAsync();
        }
        await EventuallyStoredAsync(run, Events);

        await stack.StopAsync("audit");
        try
        {
            var (output, errors) = await AuditCommandWithProgress("rebuild");
            foreach (var projection in new[] { "SessionTimelineProjection", "IdentityActivityProjection", "DecisionStatisticsProjection" })
            {
                var total = long.Parse(Assert.Single(System.Text.RegularExpressions.Regex.Matches(output,
                    $@"rebuilding {projection} \(([0-9,]+) events\)")).Groups[1].Value.Replace(",", ""));
                Assert.True(total >= Events, $"the store holds {total} events, fewer than the {Events} published");
                Assert.Matches($@"rebuilt {projection} in [0-9.]+ s \([0-9,]+ events/s\)", output);
                // Progress on standard error: how far, of how many, and the rate, ending where the rebuild ended.
                var progress = System.Text.RegularExpressions.Regex.Matches(errors,
                        $@"^  {projection}: ([0-9,]+) of ([0-9,]+) events \([0-9]+%\), [0-9,]+ events/s$",
                        System.Text.RegularExpressions.RegexOptions.Multiline)
                    .Select(m => (Done: long.Parse(m.Groups[1].Value.Replace(",", "")), Of: long.Parse(m.Groups[2].Value.Replace(",", ""))))
                    .ToList();
                Assert.True(progress.Count > 0, $"no progress for {projection} in: {errors}");
                Assert.All(progress, p => Assert.Equal(total, p.Of));
                Assert.Equal(progress.Select(p => p.Done).Order(), progress.Select(p => p.Done));
                Assert.True(progress[^1].Done >= Events, $"{projection} ended at {progress[^1].Done} of {total}");
            }
        }
        finally
        {
            await stack.StartAsync("audit");
        }
    }

    /// <summary>One of a request's four events as the services publish it (as the audit ingest probe makes them).</summary>
    private static object RequestEvent(int i, Guid request, string session)
    {
        var at = DateTimeOffset.UtcNow;
        var principal = new Principal("e2e-large-agent", "e2e-large-agent", ["agents"]);
        var action = new AgentAction(Protocols.Http, "demo", "GET", $"/customers/{i / 5}", "?fields=name,email");
        return (i % 4) switch
        {
            0 => new PolicyEvaluated(request, session, Decision.Allow, "http-read", "Reads are allowed.", ["http-read"], [], "v1",
                principal, action, at),
            1 => new RequestForwarded(request, session, "demo", "http://127.0.0.1:5090", 200, 4210, 3.2, at),
            2 => new ResponseMasked(request, session, new Dictionary<string, int> { ["EMAIL"] = 1 }, ["mask-pii"],
                4210, 4188, at, new Dictionary<string, int> { ["mask-pii"] = 1 }, "demo"),
            _ => new RequestCompleted(request, session, Outcomes.Completed, 200, 4.1,
                new CapturedOutput("application/json", "{\"id\":1,\"email\":\"[EMAIL]\"}", 4188, new string('a', 64), false), at),
        };
    }

    /// <summary>Waits until the audit has stored <paramref name="events"/> events in the run's sessions (the ingest keeps going while it moves).</summary>
    private async Task EventuallyStoredAsync(string run, int events)
    {
        await using var connection = new Npgsql.NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        long stored = 0, before = -1;
        var lastMove = DateTime.UtcNow;
        while (stored < events)
        {
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM audit.mt_events WHERE stream_id LIKE @run", connection);
            count.Parameters.AddWithValue("run", run + "-%");
            stored = (long)(await count.ExecuteScalarAsync())!;
            if (stored != before) (before, lastMove) = (stored, DateTime.UtcNow);
            else if (DateTime.UtcNow - lastMove > TimeSpan.FromSeconds(60))
                throw new Xunit.Sdk.XunitException($"the audit stored {stored} of {events} events and then nothing for a minute");
            if (stored < events) await Task.Delay(250);
        }
    }

    [Fact]
    public async Task Sessions_are_found_by_identity_connection_outcome_and_time()
    {
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);
        var denied = "e2e-search-denied-" + Guid.NewGuid().ToString("N")[..8];
        var clean = "e2e-search-clean-" + Guid.NewGuid().ToString("N")[..8];
        await Agent(denied, "http/demo/customers/1");
        await Agent(denied, "http/demo/admin/config");
        await Agent(clean, "http/demo/customers/2");
        await stack.TimelineAsync(clean, t => t.GetProperty("events").GetArrayLength() == 5);
        await stack.TimelineAsync(denied, t => t.GetProperty("events").GetArrayLength() == 8);

        var from = Uri.EscapeDataString(started.ToString("O"));
        await EventuallyAsync($"sessions/{denied}/timeline", t => t.GetProperty("events").GetInt64() == 8);
        await EventuallyAsync($"sessions/{clean}/timeline", t => t.GetProperty("events").GetInt64() == 5);
        var found = await Get($"sessions?subject={PortcullisStack.AgentClient}&connection=demo&outcome=denied&from={from}");
        var ids = found.EnumerateArray().Select(s => s.GetProperty("sessionId").GetString()).ToList();
        Assert.Contains(denied, ids);
        Assert.DoesNotContain(clean, ids);
        var summary = found.EnumerateArray().Single(s => s.GetProperty("sessionId").GetString() == denied);
        Assert.Equal(2, summary.GetProperty("requests").GetInt32());
        Assert.Equal(1, summary.GetProperty("denied").GetInt32());

        var completed = await Get($"sessions?outcome=completed&from={from}");
        Assert.Contains(completed.EnumerateArray(), s => s.GetProperty("sessionId").GetString() == clean);
        var other = await Get($"sessions?subject=someone-else&from={from}");
        Assert.Equal(0, other.GetArrayLength());
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddHours(1).ToString("O"));
        Assert.DoesNotContain((await Get($"sessions?from={future}")).EnumerateArray(),
            s => s.GetProperty("sessionId").GetString() == clean);
        await Get("sessions?limit=0", HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Activity_per_identity_and_decision_statistics_follow_the_record()
    {
        var before = await EventuallyAsync($"identities/{PortcullisStack.AgentClient}", _ => true);
        var statistics = await Get($"statistics?connection=demo&from={DateTime.UtcNow:yyyy-MM-dd}");
        var deniedBefore = statistics.EnumerateArray().Where(s => s.GetProperty("rule").GetString() == "agents-no-admin")
            .Sum(s => s.GetProperty("denied").GetInt32());

        var session = "e2e-activity-" + Guid.NewGuid().ToString("N")[..8];
        await Agent(session, "http/demo/admin/config");
        await Agent(session, "http/demo/customers/1");

        // The projection follows the record event by event, and other tests' requests of the same agent may still be on
        // their way into it: what is asserted is waited for, the session's denial included, not only its first events.
        var after = await EventuallyAsync($"identities/{PortcullisStack.AgentClient}",
            a => a.GetProperty("requests").GetInt32() >= before.GetProperty("requests").GetInt32() + 2
                 && a.GetProperty("sessions").EnumerateArray().Any(s => s.GetString() == session)
                 && a.GetProperty("denied").GetInt32() >= before.GetProperty("denied").GetInt32() + 1
                 && a.GetProperty("connections").TryGetProperty("demo", out var demo) && demo.GetInt32() >= 2);
        Assert.True(after.GetProperty("denied").GetInt32() >= before.GetProperty("denied").GetInt32() + 1);
        Assert.True(after.GetProperty("connections").GetProperty("demo").GetInt32() >= 2);

        // The denial and the masking of this session's allowed read are two events of the record, projected in turn: both
        // are waited for, not the first alone.
        var masked = await EventuallyAsync($"statistics?connection=demo&from={DateTime.UtcNow:yyyy-MM-dd}", s =>
            s.EnumerateArray().Where(x => x.GetProperty("rule").GetString() == "agents-no-admin").Sum(x => x.GetProperty("denied").GetInt32()) > deniedBefore
            && s.EnumerateArray().Any(x => x.GetProperty("rule").GetString()!.StartsWith("detector:") && x.GetProperty("masked").GetInt32() > 0));
        Assert.Contains(masked.EnumerateArray(), s => s.GetProperty("rule").GetString()!.StartsWith("detector:") && s.GetProperty("masked").GetInt32() > 0);
    }

    [Fact]
    public async Task A_session_is_archived_to_json_lines_removed_and_its_removal_recorded()
    {
        var session = "e2e-retention-" + Guid.NewGuid().ToString("N")[..8];
        await Agent(session, "http/demo/customers/1");
        await Agent(session, "http/demo/admin/config");
        var recorded = await stack.TimelineAsync(session, t => t.GetProperty("events").GetArrayLength() == 8);
        var lastHash = recorded.GetProperty("events")[7].GetProperty("hash").GetString();
        await EventuallyAsync($"sessions/{session}/timeline", t => t.GetProperty("events").GetInt64() == 8);

        var (output, progress) = await AuditCommandWithProgress("archive", "--session", session, "--before",
            DateTimeOffset.UtcNow.AddMinutes(1).ToString("O"), "--reason", "erasure request");
        Assert.Contains("archived 1 session(s)", output);
        Assert.Matches(@"archived 1 of 1 sessions \(100%\), 8 events, [0-9,]+ events/s", progress); // progress and rate on standard error

        await Get($"sessions/{session}", HttpStatusCode.NotFound);
        await Get($"sessions/{session}/timeline", HttpStatusCode.NotFound);

        var retention = await Get($"sessions/{Uri.EscapeDataString("audit:retention")}");
        var archived = retention.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("data"))
            .Single(d => d.GetProperty("archivedSessionId").GetString() == session);
        Assert.Equal(8, archived.GetProperty("events").GetInt64());
        Assert.Equal(lastHash, archived.GetProperty("lastHash").GetString());
        Assert.Equal("erasure request", archived.GetProperty("reason").GetString());

        var file = archived.GetProperty("archiveFile").GetString()!;
        var bytes = await File.ReadAllBytesAsync(file);
        Assert.Equal(archived.GetProperty("archiveSha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        var lines = File.ReadAllLines(file).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(8, lines.Length);
        Assert.Equal("RequestReceived", lines[0].GetProperty("type").GetString());
        Assert.Equal(lastHash, lines[^1].GetProperty("hash").GetString());
        for (var i = 1; i < lines.Length; i++)
            Assert.Equal(lines[i - 1].GetProperty("hash").GetString(), lines[i].GetProperty("previousHash").GetString());

        var verify = await Get($"sessions/{Uri.EscapeDataString("audit:retention")}/verify");
        Assert.True(verify.GetProperty("valid").GetBoolean());

        // A late redelivery of one of the archived session's messages is still recognised and stores nothing; a new
        // message of the same session starts it again with that one event.
        var last = lines[^1];
        var completed = last.GetProperty("data").Deserialize<RequestCompleted>(new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        var bus = await stack.StartBusAsync();
        try
        {
            await bus.Publish(completed, context => context.MessageId = Guid.Parse(last.GetProperty("messageId").GetString()!));
            await bus.Publish(new RequestForwarded(Guid.NewGuid(), session, "demo", "http://late", 200, 1, 1, DateTimeOffset.UtcNow));
        }
        finally
        {
            await bus.StopAsync();
        }
        var again = await stack.TimelineAsync(session, t => t.GetProperty("events").GetArrayLength() > 0);
        Assert.Equal(["RequestForwarded"], again.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }
}
