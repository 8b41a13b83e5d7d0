using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>One request at a time through the real stack: gateway, bus, policy, masking, audit, upstream.</summary>
[Collection(StackCollection.Name)]
public sealed class GatewayRequestFlowTests(PortcullisStack stack)
{
    private static string NewSession() => "e2e-" + Guid.NewGuid().ToString("N")[..12];

    private static string[] TypesOf(JsonElement timeline, string requestId) =>
        [.. timeline.GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("requestId").GetString() == requestId)
            .Select(e => e.GetProperty("type").GetString()!)];

    private static JsonElement EventOf(JsonElement timeline, string requestId, string type) =>
        timeline.GetProperty("events").EnumerateArray()
            .Single(e => e.GetProperty("requestId").GetString() == requestId && e.GetProperty("type").GetString() == type)
            .GetProperty("data");

    private static bool Completed(JsonElement timeline, string requestId) =>
        TypesOf(timeline, requestId).Contains("RequestCompleted");

    [Fact]
    public async Task Returns_the_customer_with_its_email_masked_and_records_the_request_in_order()
    {
        var session = NewSession();
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1", session);
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var customer = JsonDocument.Parse(body).RootElement;
        Assert.Equal("Ada Lovelace", customer.GetProperty("name").GetString());
        Assert.Equal("[EMAIL]", customer.GetProperty("email").GetString());
        Assert.DoesNotContain("ada.lovelace@example.com", body);

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").GetArrayLength() >= 5);
        var requestId = timeline.GetProperty("events")[0].GetProperty("requestId").GetString()!;
        Assert.Equal(["RequestReceived", "PolicyEvaluated", "RequestForwarded", "ResponseMasked", "RequestCompleted"],
            TypesOf(timeline, requestId));
        Assert.Equal(PortcullisStack.AgentClient, timeline.GetProperty("subject").GetString());
        Assert.Equal(["agents"], timeline.GetProperty("groups").EnumerateArray().Select(g => g.GetString()));

        var received = EventOf(timeline, requestId, "RequestReceived");
        Assert.Equal(PortcullisStack.AgentClient, received.GetProperty("principal").GetProperty("subject").GetString());
        Assert.Equal("/customers/1", received.GetProperty("action").GetProperty("path").GetString());
        Assert.Equal("Allow", EventOf(timeline, requestId, "PolicyEvaluated").GetProperty("decision").GetString());
        Assert.Equal(1, EventOf(timeline, requestId, "ResponseMasked").GetProperty("countsByEntity").GetProperty("EMAIL").GetInt32());

        var completed = EventOf(timeline, requestId, "RequestCompleted");
        Assert.Equal(200, completed.GetProperty("statusCode").GetInt32());
        var output = completed.GetProperty("output");
        Assert.Equal(body, output.GetProperty("preview").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(body))),
            output.GetProperty("sha256").GetString());
        // The audit record holds only what the agent saw.
        Assert.DoesNotContain("ada.lovelace@example.com", timeline.GetRawText());
    }

    [Fact]
    public async Task Forwards_without_the_agents_token_or_session_header()
    {
        var probe = Guid.NewGuid().ToString("N");
        using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/2?probe={probe}", NewSession());
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var seen = Assert.Single(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
        Assert.Equal("/customers/2", seen.Path);
        Assert.DoesNotContain(seen.Headers, h => h.Equals("Authorization", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(seen.Headers, h => h.Equals("X-Session-Id", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Denies_by_rule_with_problem_details_and_never_calls_the_upstream()
    {
        var session = NewSession();
        var probe = Guid.NewGuid().ToString("N");
        using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/admin/config?probe={probe}", session);
        using var response = await stack.Gateway.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("agents-no-admin", problem.GetProperty("rule").GetString());
        Assert.Equal("Agents may not use admin endpoints.", problem.GetProperty("detail").GetString());
        Assert.False(problem.GetProperty("approvalAvailable").GetBoolean());

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").GetArrayLength() >= 3);
        var requestId = problem.GetProperty("requestId").GetString()!;
        Assert.Equal(["RequestReceived", "PolicyEvaluated", "RequestCompleted"], TypesOf(timeline, requestId));
        var evaluated = EventOf(timeline, requestId, "PolicyEvaluated");
        Assert.Equal("Deny", evaluated.GetProperty("decision").GetString());
        Assert.Equal("agents-no-admin", evaluated.GetProperty("ruleId").GetString());
        Assert.Equal("denied", EventOf(timeline, requestId, "RequestCompleted").GetProperty("outcome").GetString());

        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    [Fact]
    public async Task Does_not_run_actions_that_wait_for_approval_and_says_how_to_retry()
    {
        var probe = Guid.NewGuid().ToString("N");
        using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/export?probe={probe}", NewSession());
        request.Headers.Add("Prefer", "wait=1");
        using var response = await stack.Gateway.SendAsync(request);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var pending = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("approve-bulk-export", pending.GetProperty("rule").GetString());
        var approvalId = pending.GetProperty("approvalId").GetString()!;
        Assert.Contains($"X-Portcullis-Approval: {approvalId}", pending.GetProperty("detail").GetString());
        Assert.Equal(pending.GetProperty("statusUrl").GetString(), response.Headers.Location?.ToString());
        Assert.Equal(TimeSpan.FromSeconds(10), response.Headers.RetryAfter?.Delta);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    [Theory]
    [InlineData("http/demo/customers%2F..%2Fadmin/config")]
    [InlineData("http/demo//admin/config")]
    [InlineData("http/demo/customers%5Cadmin")]
    public async Task Refuses_paths_that_could_be_read_two_ways(string path)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, path, NewSession());
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Unknown_connections_are_not_found()
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/elsewhere/customers/1", NewSession());
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("elsewhere", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Session_timelines_are_for_auditors_only()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "sessions/anything");
        request.Headers.Authorization = new("Bearer", await stack.TokenFor(PortcullisStack.AgentClient));
        using var response = await stack.Audit.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);

        using var anonymous = await stack.Audit.GetAsync("sessions/anything");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }
}
