using System.Net;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>An auditor replays a session (JSON and transcript) and exports a time range as JSON Lines.</summary>
[Collection(StackCollection.Name)]
public sealed class ReplayTests(PortcullisStack stack)
{
    [Fact]
    public async Task A_session_replays_each_action_with_its_decision_outcome_and_masked_output_and_exports_as_json_lines()
    {
        var session = "e2e-replay-" + Guid.NewGuid().ToString("N")[..8];
        var from = DateTimeOffset.UtcNow.AddSeconds(-1);
        foreach (var path in new[] { "http/demo/customers/1", "http/demo/admin/config" })
        {
            using var request = await stack.AgentRequest(HttpMethod.Get, path, session);
            using var _ = await stack.Gateway.SendAsync(request);
        }
        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Count(e => e.GetProperty("type").GetString() == "RequestCompleted") == 2);

        using (var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/replay"))
        using (var response = await stack.Audit.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var steps = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("steps");
            Assert.Equal(2, steps.GetArrayLength());
            Assert.Equal("GET /customers/1", steps[0].GetProperty("action").GetString());
            Assert.Equal("Allow", steps[0].GetProperty("decision").GetString());
            Assert.Equal("completed", steps[0].GetProperty("outcome").GetString());
            Assert.Contains("[EMAIL]", steps[0].GetProperty("output").GetString());
            Assert.Equal("agents-no-admin", steps[1].GetProperty("rule").GetString());
            Assert.Equal("denied", steps[1].GetProperty("outcome").GetString());
        }

        using (var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/replay?format=text"))
        using (var response = await stack.Audit.SendAsync(request))
        {
            var transcript = await response.Content.ReadAsStringAsync();
            Assert.Contains("#1", transcript);
            Assert.Contains("decision: Deny by agents-no-admin", transcript);
            Assert.Contains("the agent saw: {\"id\":1,\"name\":\"Ada Lovelace\",\"email\":\"[EMAIL]\"", transcript);
            Assert.DoesNotContain("ada.lovelace@example.com", transcript);
        }

        var to = DateTimeOffset.UtcNow.AddSeconds(1);
        using (var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get,
                   $"export?from={Uri.EscapeDataString(from.ToString("O"))}&to={Uri.EscapeDataString(to.ToString("O"))}"))
        using (var response = await stack.Audit.SendAsync(request))
        {
            Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
            var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonDocument.Parse(line).RootElement).Where(e => e.GetProperty("sessionId").GetString() == session).ToList();
            Assert.Equal(timeline.GetProperty("events").GetArrayLength(), lines.Count);
            Assert.All(lines, line => Assert.Equal(64, line.GetProperty("hash").GetString()!.Length));
        }
    }
}
