using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// What an operator sees: one agent request is one trace across the services (exported over OTLP to the tests'
/// receiver), with its request and session ids and nothing the agent must not see; JSON log lines that name the
/// request; and the portcullis_ metrics on every service's /metrics.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class ObservabilityTests(PortcullisStack stack)
{
    /// <summary>What the demo upstream's billing record holds unmasked (see MaskingTests).</summary>
    private static readonly string[] RawValues = ["ada.lovelace@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "Analytical Way"];

    [Fact]
    public async Task One_agent_request_is_one_trace_through_gateway_policy_masking_and_audit_with_no_token_or_unmasked_value()
    {
        // A gateway of its own that writes JSON log lines, so its log holds only this test's request; YARP's forwarding
        // line (Information) is one it writes while handling the request.
        var (process, gateway) = await stack.StartExtraGatewayAsync("gateway-json", new()
        {
            ["Logging__Console__FormatterName"] = "json",
            ["Logging__LogLevel__Yarp"] = "Information",
        });
        await using var _ = process;
        using var __ = gateway;
        var session = "e2e-otel-" + Guid.NewGuid().ToString("N")[..8];
        using (var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/billing", session))
        using (var response = await gateway.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("[EMAIL]", await response.Content.ReadAsStringAsync());
        }
        await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));

        string[] services = ["portcullis-gateway", "portcullis-policy", "portcullis-masking", "portcullis-audit"];
        // The audit's record of RequestCompleted is the saga's last span; the services export in batches as they go.
        await stack.UntilAsync(() => Task.FromResult(SessionSpans(session).Any(s => s.Name == "audit record RequestCompleted")
                && SessionSpans(session).Select(s => s.TraceId).Distinct()
                    .Any(trace => services.All(service => stack.Telemetry.Spans.Any(s => s.TraceId == trace && s.Service == service)))),
            $"a trace of session {session} with spans from {string.Join(", ", services)}, ending with the audit's record");

        // One trace: every span that names the session is in it, and they all name the same request.
        var tagged = SessionSpans(session);
        var trace = Assert.Single(tagged.Select(s => s.TraceId).Distinct());
        var requestId = Assert.Single(tagged.Select(s => s.Attributes[Defaults.Telemetry.PortcullisActivities.RequestIdAttribute]).Distinct());
        var spans = stack.Telemetry.Spans.Where(s => s.TraceId == trace).ToList();
        foreach (var service in services)
            Assert.Contains(spans, s => s.Service == service && s.Attributes.GetValueOrDefault("portcullis.session_id") == session);
        // The saga's messages are spans of their own (MassTransit's), and the audit's record closes it.
        Assert.Contains(spans, s => s.Name.Contains("RequestReceived", StringComparison.Ordinal));
        Assert.Contains(spans, s => s.Service == "portcullis-audit" && s.Name == "audit record RequestCompleted");

        // Nothing in any span exported so far: no token, no upstream credential, no unmasked value, no SQL text.
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        var needles = new Dictionary<string, string> { ["the agent's token"] = token };
        foreach (var (name, secret) in stack.UpstreamSecrets)
            foreach (var line in secret.Split('\n').Select(l => l.Trim()).Where(l => l.Length >= 16 && !l.StartsWith("-----")))
                needles[name] = line;
        foreach (var raw in RawValues) needles[raw] = raw;
        var exports = string.Join('\n', stack.Telemetry.TraceExports);
        foreach (var (what, needle) in needles)
            Assert.False(exports.Contains(needle, StringComparison.Ordinal), $"{what} is in an exported span");
        Assert.DoesNotContain(stack.Telemetry.Spans, s => s.Attributes.ContainsKey("db.statement") || s.Attributes.ContainsKey("db.query.text"));

        // The JSON log: one object a line, the request's lines naming its id and session, and nothing to hide in any.
        await Task.Delay(500); // the process writes its log as it goes; let the last lines land
        var lines = (await ReadShared(process.LogPath)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var objects = lines.Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.All(objects, o => Assert.Equal(JsonValueKind.Object, o.ValueKind));
        Assert.Contains(objects, o => o.GetProperty("Category").GetString()!.StartsWith("Yarp", StringComparison.Ordinal)
                                      && o.TryGetProperty("RequestId", out var id) && id.GetString() == requestId
                                      && o.TryGetProperty("SessionId", out var s) && s.GetString() == session
                                      && o.TryGetProperty("TraceId", out var t) && t.GetString() == trace);
        foreach (var service in new[] { "gateway", "policy", "masking", "audit", "approval" })
        {
            var text = await ReadShared(stack.LogOf(service)) + await ReadShared(process.LogPath);
            foreach (var (what, needle) in needles)
                Assert.False(text.Contains(needle, StringComparison.Ordinal), $"{what} is in the {service} log");
        }
    }

    [Fact]
    public async Task Every_service_shows_its_portcullis_metrics_on_metrics_after_a_request()
    {
        var session = "e2e-metrics-" + Guid.NewGuid().ToString("N")[..8];
        using (var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/billing", session))
        using (var response = await stack.Gateway.SendAsync(request))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // An approval opened and denied, for the approval service's counters and wait.
        // A stack that has just started can miss the first SQL decision's or approval's deadline (503, fail closed): that
        // request is refused and recorded as such, and sent again.
        string? approvalId = null;
        for (var attempt = 1; attempt <= 3 && approvalId is null; attempt++)
        {
            using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
            request.Content = JsonContent.Create(new { sql = "SELECT id, amount FROM demo.payments WHERE id = 1" });
            request.Headers.Add("Prefer", "wait=0");
            using var response = await stack.Gateway.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 3) continue;
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            approvalId = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("approvalId").GetString()!;
        }
        using (var deny = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post, $"approvals/{approvalId}/deny", new { comment = "no" }))
        using (var response = await stack.Approval.SendAsync(deny))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Count(e => e.GetProperty("type").GetString() == "RequestCompleted") >= 1);

        var expected = new Dictionary<string, string[]>
        {
            ["gateway"] = ["portcullis_requests_total{", "portcullis_upstream_latency_milliseconds_bucket{", "portcullis_gateway_overhead_milliseconds_bucket{"],
            ["policy"] = ["portcullis_decisions_total{", "effect=\"allow\"", "effect=\"require_approval\"", "rule=\"approve-payments\"", "connection=\"warehouse\""],
            ["masking"] = ["portcullis_values_masked_total{", "entity=\"EMAIL\""],
            ["approval"] = ["portcullis_approvals_opened_total", "portcullis_approvals_denied_total", "portcullis_approval_wait_milliseconds_bucket{"],
            ["audit"] = ["portcullis_audit_ingest_lag_milliseconds_bucket", "portcullis_audit_projection_lag"],
        };
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var (service, names) in expected)
        {
            var text = "";
            // Anonymous, as the health endpoints are; the projection lag gauge appears after its first measurement.
            await stack.UntilAsync(async () =>
            {
                using var response = await http.GetAsync(new Uri(stack.AddressOf(service), "metrics"));
                text = await response.Content.ReadAsStringAsync();
                return response.StatusCode == HttpStatusCode.OK && names.All(n => text.Contains(n, StringComparison.Ordinal));
            }, $"{service} /metrics shows {string.Join(", ", names)}");
            Assert.DoesNotContain(token, text);
            Assert.DoesNotContain(session, text); // sessions are not labels: that would be a series per agent run
            foreach (var raw in RawValues) Assert.DoesNotContain(raw, text);
        }
    }

    private List<ReceivedSpan> SessionSpans(string session) =>
        stack.Telemetry.Spans.Where(s => s.Attributes.GetValueOrDefault(Defaults.Telemetry.PortcullisActivities.SessionIdAttribute) == session).ToList();

    private static async Task<string> ReadShared(string path)
    {
        if (!File.Exists(path)) return "";
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}
