using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;
using Portcullis.Contracts;
using Portcullis.EndToEndTests.Stack;
using RabbitMQ.Client;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The record never stops and never lies: a value PostgreSQL cannot store is stored escaped, an event it still refuses
/// is set aside (error queue and an EventQuarantined in its session) while everything around it is stored, and verify
/// reports loss (a deleted event, a missing request), not only change.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class AuditResilienceTests(PortcullisStack stack)
{
    private const string AuditQueue = "audit-session-event";
    private const string ErrorQueue = AuditQueue + "_error";

    private async Task<JsonElement> AuditorGet(string path)
    {
        using var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, path);
        using var response = await stack.Audit.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private Task<JsonElement> Verify(string session) => AuditorGet($"sessions/{Uri.EscapeDataString(session)}/verify");

    private async Task AssertAuditReady()
    {
        using var response = await stack.Audit.GetAsync("health/ready");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"the audit is not ready: {await response.Content.ReadAsStringAsync()}");
    }

    private async Task<HttpStatusCode> Agent(string session, string path, object? body = null)
    {
        using var request = await stack.AgentRequest(body is null ? HttpMethod.Get : HttpMethod.Post, path, session);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await stack.Gateway.SendAsync(request);
        return response.StatusCode;
    }

    /// <summary>
    /// A request that must succeed; a 503 (the gateway failing closed while a service of a freshly started stack is
    /// slow to answer) is tried again, and is in the record like any other request.
    /// </summary>
    private async Task AgentOk(string session, string path)
    {
        var status = await Agent(session, path);
        for (var attempt = 1; attempt < 10 && status == HttpStatusCode.ServiceUnavailable; attempt++)
        {
            await Task.Delay(500);
            status = await Agent(session, path);
        }
        Assert.Equal(HttpStatusCode.OK, status);
    }

    private static IEnumerable<JsonElement> Events(JsonElement timeline, string type) =>
        timeline.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("type").GetString() == type);

    private static int Completed(JsonElement timeline) => Events(timeline, "RequestCompleted").Count();

    [Fact]
    public async Task A_nul_in_a_statement_or_a_command_is_stored_escaped_and_the_audit_keeps_recording_every_session()
    {
        var session = "e2e-nul-" + Guid.NewGuid().ToString("N")[..8];
        var other = "e2e-nul-other-" + Guid.NewGuid().ToString("N")[..8];
        await AgentOk(session, "http/demo/customers/1");
        // Whether the gateway runs or refuses these is its business; what it records must be stored.
        var sql = await Agent(session, "sql/warehouse", new { sql = "SELECT 1\u0000; SELECT 2" });
        var exec = await Agent(session, "exec/ops", new { command = "echo a\u0000b" });
        await AgentOk(session, "http/demo/customers/2");
        await AgentOk(other, "http/demo/customers/3");

        // Every request of both sessions, the one after the NULs included, is recorded to its end.
        static bool Finished(JsonElement t, string path) =>
            Events(t, "RequestReceived").FirstOrDefault(e => e.GetProperty("data").GetProperty("action").GetProperty("path").GetString() == path)
                is { ValueKind: JsonValueKind.Object } received
            && Events(t, "RequestCompleted").Any(c => c.GetProperty("requestId").GetGuid() == received.GetProperty("requestId").GetGuid());
        var timeline = await stack.TimelineAsync(session, t => Finished(t, "/customers/2"));
        await stack.TimelineAsync(other, t => Finished(t, "/customers/3"));
        await AssertAuditReady();

        // The NUL statement and command are there, escaped visibly, not set aside (unless the gateway refused one as
        // malformed input before recording it at all).
        var actions = Events(timeline, "RequestReceived").Select(e => e.GetProperty("data").GetProperty("action")).ToList();
        if (sql != HttpStatusCode.BadRequest)
            Assert.Contains(actions, a => a.GetProperty("sql").GetString() == @"[escaped] SELECT 1\u0000; SELECT 2");
        if (exec != HttpStatusCode.BadRequest)
            Assert.Contains(actions, a => a.GetProperty("command").GetString() == @"[escaped] echo a\u0000b");
        Assert.Empty(Events(timeline, "EventQuarantined"));

        // The chain verifies what was sent: the escaping is reversed before hashing.
        var verified = await Verify(session);
        Assert.True(verified.GetProperty("valid").GetBoolean(), verified.ToString());
        Assert.Empty(verified.GetProperty("findings").EnumerateArray());
        Assert.True((await Verify(other)).GetProperty("valid").GetBoolean());
    }

    /// <summary>A MassTransit envelope as the services publish it, written by hand so it can be malformed.</summary>
    private static byte[] Envelope(string messageId, string type, string message) => Encoding.UTF8.GetBytes(
        $$"""{"messageId":"{{messageId}}","messageType":["urn:message:Portcullis.Contracts:{{type}}"],"message":{{message}}}""");

    private static string CompletedMessage(Guid request, string session, string preview) =>
        $$"""{"requestId":"{{request}}","sessionId":"{{session}}","outcome":"completed","statusCode":200,"durationMs":1.5,"output":{"contentType":"text/plain","preview":"{{preview}}","size":3,"sha256":"00","truncated":false},"completedAt":"2026-12-02T15:00:00Z"}""";

    private static string Sha256(byte[] body) => Convert.ToHexStringLower(SHA256.HashData(body));

    [Fact]
    public async Task Malformed_events_among_good_ones_are_set_aside_visibly_and_the_good_ones_stored()
    {
        var session = "e2e-poison-" + Guid.NewGuid().ToString("N")[..8];
        const string secret = "BODY-MUST-NOT-BE-RECORDED";
        var (first, nul, last) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        var (lone, wrongType, longId) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());
        // A message id far beyond what PostgreSQL can index: the store itself refuses that event (SQLSTATE 54000),
        // which only splitting the batch can single out.
        var hugeId = string.Concat(Enumerable.Range(0, 700).Select(_ => Guid.NewGuid().ToString("N")));
        var bodies = new (string Name, byte[] Body, bool Bad)[]
        {
            ("first", Envelope(Guid.NewGuid().ToString(), "RequestCompleted", CompletedMessage(first, session, "one")), false),
            ("not json", Encoding.UTF8.GetBytes("{\"sessionId\":\"" + session + "\", " + secret), true),
            ("lone surrogate", Envelope(Guid.NewGuid().ToString(), "RequestCompleted", CompletedMessage(lone, session, secret + "\\ud800")), true),
            ("nul, stored escaped", Envelope(Guid.NewGuid().ToString(), "RequestCompleted", CompletedMessage(nul, session, "a\\u0000b")), false),
            ("wrong type", Envelope(Guid.NewGuid().ToString(), "RequestCompleted",
                CompletedMessage(wrongType, session, secret).Replace("\"statusCode\":200", "\"statusCode\":\"two hundred\"")), true),
            ("unindexable id", Envelope(hugeId, "RequestCompleted", CompletedMessage(longId, session, secret)), true),
            ("nul in the session id", Envelope(Guid.NewGuid().ToString(), "RequestCompleted", CompletedMessage(Guid.NewGuid(), session + "\\u0000", secret)), true),
            ("last", Envelope(Guid.NewGuid().ToString(), "RequestCompleted", CompletedMessage(last, session, "two")), false),
        };

        var factory = new ConnectionFactory { Uri = new Uri(stack.RabbitMq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using (var publisher = await connection.CreateChannelAsync(new CreateChannelOptions(true, true)))
            foreach (var (_, body, _) in bodies) // back to back, so the audit reads them as one batch or few
                await publisher.BasicPublishAsync("Portcullis.Contracts:RequestCompleted", "", mandatory: false,
                    new BasicProperties { Persistent = true }, body);

        var timeline = await stack.TimelineAsync(session, t => Completed(t) >= 3 && Events(t, "EventQuarantined").Count() >= 3);
        await AssertAuditReady();
        Assert.Equal([first, nul, last], Events(timeline, "RequestCompleted").Select(e => e.GetProperty("requestId").GetGuid()));
        Assert.Equal(@"[escaped] a\u0000b", Events(timeline, "RequestCompleted").ElementAt(1).GetProperty("data").GetProperty("output")
            .GetProperty("preview").GetString());

        // Each bad one is in its session's record where it arrived, with why and the hash of its body, never the body.
        var quarantined = Events(timeline, "EventQuarantined").Select(e => e.GetProperty("data")).ToList();
        Assert.DoesNotContain(secret, timeline.ToString());
        foreach (var (name, body, _) in bodies.Where(b => b.Bad && b.Name is not ("nul in the session id" or "not json")))
            Assert.Contains(quarantined, q => q.GetProperty("bodySha256").GetString() == Sha256(body)
                && q.GetProperty("reason").GetString() is { Length: > 0 });
        Assert.Contains(quarantined, q => q.GetProperty("requestId").GetGuid() == longId
            && q.GetProperty("reason").GetString()!.Contains("54000"));
        Assert.Contains(quarantined, q => q.GetProperty("requestId").GetGuid() == wrongType);
        // The order of the record is the order of delivery: first, the set-aside ones in their places, last.
        var order = timeline.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("requestId").GetGuid()).ToList();
        Assert.True(order.IndexOf(first) < order.IndexOf(longId) && order.IndexOf(longId) < order.IndexOf(last));

        // Verify counts them: the chain holds, the record says it is not whole.
        var verified = await Verify(session);
        Assert.True(verified.GetProperty("chainIntact").GetBoolean(), verified.ToString());
        Assert.False(verified.GetProperty("valid").GetBoolean());
        Assert.Equal(3, verified.GetProperty("quarantined").GetInt32());
        Assert.Equal(3, verified.GetProperty("findings").EnumerateArray().Count(f => f.GetProperty("kind").GetString() == "quarantined"));

        // A message with no usable session is recorded in the audit's own quarantine session.
        var unknown = await AuditorGet($"sessions/{Uri.EscapeDataString(EventQuarantined.UnknownSession)}");
        foreach (var name in new[] { "nul in the session id", "not json" })
            Assert.Contains(Events(unknown, "EventQuarantined"), e => e.GetProperty("data").GetProperty("bodySha256").GetString()
                == Sha256(bodies.Single(b => b.Name == name).Body));

        // Every bad message is kept whole in the error queue, with the reason beside it.
        var wanted = bodies.Where(b => b.Bad).ToDictionary(b => Sha256(b.Body), b => b.Name);
        await using var reader = await connection.CreateChannelAsync();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (wanted.Count > 0 && DateTime.UtcNow < deadline)
        {
            var delivery = await reader.BasicGetAsync(ErrorQueue, autoAck: false); // left unacknowledged: requeued on close
            if (delivery is null)
            {
                await Task.Delay(200);
                continue;
            }
            var sha = Sha256(delivery.Body.ToArray());
            if (wanted.Remove(sha))
                Assert.True(delivery.BasicProperties.Headers?.ContainsKey("portcullis-quarantine-reason"), "no reason on the set-aside message");
        }
        Assert.True(wanted.Count == 0, $"not in {ErrorQueue}: {string.Join(", ", wanted.Values)}");
    }

    [Fact]
    public async Task Verify_names_a_deleted_event_and_a_missing_request()
    {
        // A missing request: the gateway numbered them 1, 2, 4; request 3 never reached the record.
        var numbered = "e2e-gap-" + Guid.NewGuid().ToString("N")[..8];
        var bus = await stack.StartBusAsync();
        try
        {
            var principal = new Principal("gap-agent", "gap-agent", ["agents"]);
            foreach (var sequence in new long[] { 1, 2, 4 })
                await bus.Publish(new RequestReceived(Guid.NewGuid(), numbered, principal,
                    new AgentAction(Portcullis.Contracts.Protocols.Http, "demo", "GET", $"/customers/{sequence}"), DateTimeOffset.UtcNow, sequence));
        }
        finally
        {
            await bus.StopAsync();
        }
        await stack.TimelineAsync(numbered, t => Events(t, "RequestReceived").Count() == 3);
        var gap = await Verify(numbered);
        Assert.False(gap.GetProperty("valid").GetBoolean());
        Assert.True(gap.GetProperty("chainIntact").GetBoolean());
        var missing = Assert.Single(gap.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "missing-request");
        Assert.StartsWith("request 3 missing", missing.GetProperty("message").GetString());

        // A deleted event: the database owner removes one row from the middle of a session.
        var session = "e2e-delete-" + Guid.NewGuid().ToString("N")[..8];
        await AgentOk(session, "http/demo/customers/1");
        await AgentOk(session, "http/demo/customers/2");
        await stack.TimelineAsync(session, t => Completed(t) >= 2);
        var intact = await Verify(session);
        Assert.True(intact.GetProperty("valid").GetBoolean(), intact.ToString());
        var events = intact.GetProperty("events").GetInt32();

        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var delete = new NpgsqlCommand("DELETE FROM audit.mt_events WHERE stream_id = $1 AND version = 3", connection);
            delete.Parameters.AddWithValue(session);
            Assert.Equal(1, await delete.ExecuteNonQueryAsync());
        }
        var broken = await Verify(session);
        Assert.False(broken.GetProperty("valid").GetBoolean());
        Assert.False(broken.GetProperty("chainIntact").GetBoolean());
        Assert.Equal(events - 1, broken.GetProperty("events").GetInt32());
        var deleted = Assert.Single(broken.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "deleted");
        Assert.Equal(4, deleted.GetProperty("version").GetInt64());
        Assert.Contains("version 3", deleted.GetProperty("message").GetString());
        Assert.Equal(4, broken.GetProperty("firstInvalid").GetProperty("version").GetInt64());

        // The command-line form finds the same, and says so with its exit code and JSON.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { stack.AssemblyOf("audit"), "verify", session }) start.ArgumentList.Add(arg);
        start.Environment["ConnectionStrings__Postgres"] = stack.AdminConnectionString;
        using var cli = Process.Start(start)!;
        var output = await cli.StandardOutput.ReadToEndAsync();
        await cli.WaitForExitAsync();
        Assert.Equal(1, cli.ExitCode);
        // The JSON follows whatever the store logs on start.
        var printed = JsonDocument.Parse(string.Join('\n', output.Split('\n').SkipWhile(line => !line.StartsWith('{')))).RootElement;
        Assert.Contains(printed.GetProperty("findings").EnumerateArray(), f => f.GetProperty("kind").GetString() == "deleted"
            && f.GetProperty("version").GetInt64() == 4);
    }

    [Fact]
    public async Task The_text_transcript_shows_control_characters_as_escapes()
    {
        var session = "e2e-transcript-" + Guid.NewGuid().ToString("N")[..8];
        await Agent(session, "exec/ops", new { command = "ls\r#; id" });
        await Agent(session, "sql/warehouse", new { sql = "SELECT 1 -- \u001b[2K\u001b[1A\u202e" });
        await stack.TimelineAsync(session, t => Completed(t) >= 2);

        using var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/replay?format=text");
        using var response = await stack.Audit.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var transcript = await response.Content.ReadAsStringAsync();

        Assert.Contains(@"command ls\r#; id", transcript);
        Assert.Contains(@"SQL SELECT 1 -- \x1b[2K\x1b[1A\u202e", transcript);
        Assert.DoesNotContain('\r', transcript);
        Assert.DoesNotContain('\u001b', transcript);
        Assert.DoesNotContain('\u202e', transcript);
    }
}
