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
        // The audit's record of RequestCompleted is the saga's last span; the services export in batches as they go, each
        // on its own schedule: what is asserted below (a span of each service naming the session, the RequestReceived
        // message's span) is what is waited for, not only the audit's last one.
        await stack.UntilAsync(() => Task.FromResult(SessionSpans(session).Any(s => s.Name == "audit record RequestCompleted")
                && services.All(service => SessionSpans(session).Any(s => s.Service == service))
                && SessionSpans(session).Select(s => s.TraceId).Distinct()
                    .Any(trace => stack.Telemetry.Spans.Any(s => s.TraceId == trace && s.Name.Contains("RequestReceived", StringComparison.Ordinal)))),
            $"a trace of session {session} with spans from {string.Join(", ", services)}, ending with the audit's record");

        // One trace: every span that names the session is in it, and they all name the same request.
        var tagged = SessionSpans(session);
        var trace = Assert.Single(tagged.Select(s => s.TraceId).Distinct());
        var requestId = Assert.Single(tagged.Select(s => s.Attributes[Defaults.Telemetry.PortcullisActivities.RequestIdAttribute]).Distinct());
        var spans = stack.Telemetry.Spans.Where(s => s.TraceId == trace).ToList();
        foreach (var service in services)
            Assert.Contains(spans, s => s.Service == service && s.Attributes.GetValueOrDefault("portcullis.session_id") == session
                                        && s.Attributes.GetValueOrDefault(Defaults.Telemetry.PortcullisActivities.RequestIdAttribute) == requestId);
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
        // The process writes its log as it goes: read until the line asserted on is there (and only whole lines).
        static bool ForwardingLine(JsonElement o, string requestId, string session, string trace) =>
            o.GetProperty("Category").GetString()!.StartsWith("Yarp", StringComparison.Ordinal)
            && o.TryGetProperty("RequestId", out var id) && id.GetString() == requestId
            && o.TryGetProperty("SessionId", out var s) && s.GetString() == session
            && o.TryGetProperty("TraceId", out var t) && t.GetString() == trace;
        List<JsonElement> objects = [];
        await stack.UntilAsync(async () =>
        {
            var log = await ReadShared(process.LogPath);
            objects = [.. log[..(log.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonDocument.Parse(line).RootElement.Clone())];
            return objects.Any(o => o.ValueKind == JsonValueKind.Object && ForwardingLine(o, requestId!, session, trace));
        }, $"the gateway's JSON log names request {requestId} of session {session} in trace {trace}");
        Assert.All(objects, o => Assert.Equal(JsonValueKind.Object, o.ValueKind));
        Assert.Contains(objects, o => ForwardingLine(o, requestId!, session, trace));
        foreach (var service in new[] { "gateway", "policy", "masking", "audit", "approval" })
        {
            var text = await ReadShared(stack.LogOf(service)) + await ReadShared(process.LogPath);
            foreach (var (what, needle) in needles)
                Assert.False(text.Contains(needle, StringComparison.Ordinal), $"{what} is in the {service} log");
        }
    }

    /// <summary>
    /// The gateway runs as `make up` runs it: /metrics (rule and connection names, the policy's shape) on its own local port
    /// only; on the port agents reach it is not found, whatever Host header the caller writes.
    /// </summary>
    [Fact]
    public async Task The_gateways_metrics_answer_on_its_metrics_port_and_its_agent_facing_port_answers_404()
    {
        Assert.NotEqual(stack.AddressOf("gateway").Port, stack.MetricsAddressOf("gateway").Port);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using (var scrape = await http.GetAsync(new Uri(stack.MetricsAddressOf("gateway"), "metrics")))
        {
            Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
            Assert.Contains("portcullis_requests_total", await scrape.Content.ReadAsStringAsync());
        }
        foreach (var host in new string?[] { null, $"127.0.0.1:{stack.MetricsAddressOf("gateway").Port}", "localhost" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(stack.AddressOf("gateway"), "metrics"));
            if (host is not null) request.Headers.Host = host;
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain("portcullis_", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Every_service_shows_its_portcullis_metrics_on_metrics_after_a_request_and_the_dashboard_queries_only_what_they_show()
    {
        var session = "e2e-metrics-" + Guid.NewGuid().ToString("N")[..8];
        // Three approvals: one left to expire (opened first, as its expiry is the longest wait), one denied, one granted.
        var expiring = await OpenApprovalAsync(session, 3);
        using (var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/billing", session))
        using (var response = await stack.Gateway.SendAsync(request))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using (var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/admin/config", session))
        using (var response = await stack.Gateway.SendAsync(request))
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        foreach (var (id, answer) in new[] { (1, "deny"), (2, "approve") })
        {
            var (approvalId, _) = await OpenApprovalAsync(session, id);
            // The approval service opens it on hearing the decision: decided once it is there.
            await stack.UntilAsync(async () =>
            {
                using var pending = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Get, "approvals?state=Pending");
                using var response = await stack.Approval.SendAsync(pending);
                return response.IsSuccessStatusCode && (await response.Content.ReadAsStringAsync()).Contains(approvalId, StringComparison.Ordinal);
            }, $"approval {approvalId} pending");
            using var decide = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post, $"approvals/{approvalId}/{answer}",
                new { comment = "metrics" });
            using var response = await stack.Approval.SendAsync(decide);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        var untilExpiry = expiring.ExpiresAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1);
        if (untilExpiry > TimeSpan.Zero) await Task.Delay(untilExpiry); // the approval's own deadline (ApprovalExpiry)
        await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "ApprovalExpired"));

        // Each metric with the labels the issue names, from the service that counts it.
        var expected = new Dictionary<string, string[]>
        {
            ["gateway"] =
            [
                "portcullis_requests_total{", "protocol=\"http\"", "outcome=\"completed\"", "outcome=\"denied\"",
                "portcullis_upstream_latency_milliseconds_bucket{", "portcullis_gateway_overhead_milliseconds_bucket{",
            ],
            ["policy"] =
            [
                "portcullis_decisions_total{", "effect=\"allow\"", "effect=\"deny\"", "effect=\"require_approval\"",
                "rule=\"approve-payments\"", "rule=\"agents-no-admin\"", "connection=\"warehouse\"", "connection=\"demo\"",
            ],
            ["masking"] = ["portcullis_values_masked_total{", "entity=\"EMAIL\"", "connection=\"demo\""],
            ["approval"] =
            [
                "portcullis_approvals_opened_total{", "portcullis_approvals_granted_total{", "portcullis_approvals_denied_total{",
                "portcullis_approvals_expired_total{", "portcullis_approval_wait_milliseconds_bucket{",
                "outcome=\"granted\"", "outcome=\"denied\"", "outcome=\"expired\"",
            ],
            ["audit"] = ["portcullis_audit_ingest_lag_milliseconds_bucket", "portcullis_audit_projection_lag{", "projection=\""],
        };
        // The upstream's time is by connection, the values masked by entity and the connection they came from.
        static bool UpstreamLatencyOfDemo(string line) => line.StartsWith("portcullis_upstream_latency_milliseconds_bucket{", StringComparison.Ordinal)
                                                         && line.Contains("connection=\"demo\"", StringComparison.Ordinal);
        static bool EmailsMaskedFromDemo(string line) => line.StartsWith("portcullis_values_masked_total{", StringComparison.Ordinal)
                                                        && line.Contains("entity=\"EMAIL\"", StringComparison.Ordinal)
                                                        && line.Contains("connection=\"demo\"", StringComparison.Ordinal);
        var lineOf = new Dictionary<string, Func<string, bool>> { ["gateway"] = UpstreamLatencyOfDemo, ["masking"] = EmailsMaskedFromDemo };
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        var scraped = new Dictionary<string, string>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        foreach (var (service, names) in expected)
        {
            var text = "";
            // Anonymous, as the health endpoints are; the projection lag gauge appears after its first measurement, and a
            // service records a request's measures as it finishes with it: scraped until all that is asserted is there.
            await stack.UntilAsync(async () =>
            {
                using var response = await http.GetAsync(new Uri(stack.MetricsAddressOf(service), "metrics"));
                text = await response.Content.ReadAsStringAsync();
                return response.StatusCode == HttpStatusCode.OK && names.All(n => text.Contains(n, StringComparison.Ordinal))
                       && (!lineOf.TryGetValue(service, out var wanted) || text.Split('\n').Any(wanted));
            }, $"{service} /metrics shows {string.Join(", ", names)}; it shows:\n{text}");
            Assert.DoesNotContain(token, text);
            Assert.DoesNotContain(session, text); // sessions are not labels: that would be a series per agent run
            foreach (var raw in RawValues) Assert.DoesNotContain(raw, text);
            scraped[service] = text;
        }
        Assert.Contains(scraped["gateway"].Split('\n'), UpstreamLatencyOfDemo);
        Assert.Contains(scraped["masking"].Split('\n'), EmailsMaskedFromDemo);

        // The same instruments over OTLP, as the meter names them (the collector's pipeline in compose), and nothing to hide.
        string[] instruments =
        [
            "portcullis_requests", "portcullis_upstream_latency", "portcullis_gateway_overhead", "portcullis_decisions",
            "portcullis_values_masked", "portcullis_approvals_opened", "portcullis_approvals_granted", "portcullis_approvals_denied",
            "portcullis_approvals_expired", "portcullis_approval_wait", "portcullis_audit_ingest_lag", "portcullis_audit_projection_lag",
        ];
        await stack.UntilAsync(() => Task.FromResult(instruments.All(name => stack.Telemetry.MetricExports.Any(e => e.Contains(name, StringComparison.Ordinal)))),
            "every Portcullis instrument exported over OTLP");
        var metricExports = string.Join('\n', stack.Telemetry.MetricExports);
        Assert.DoesNotContain(token, metricExports);
        Assert.DoesNotContain(session, metricExports);
        foreach (var raw in RawValues) Assert.DoesNotContain(raw, metricExports);

        // The Grafana dashboard: every metric its queries name is on a service's /metrics, with the labels it groups by.
        var all = string.Join('\n', scraped.Values);
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(
            Path.Combine(PortcullisStack.RepositoryRoot, "compose", "grafana", "dashboards", "portcullis.json")));
        var expressions = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.TryGetProperty("targets", out var targets) ? targets.EnumerateArray() : Enumerable.Empty<JsonElement>())
            .Select(t => t.GetProperty("expr").GetString()!).ToList();
        Assert.NotEmpty(expressions);
        foreach (var expression in expressions)
        {
            var metric = System.Text.RegularExpressions.Regex.Match(expression, @"portcullis_[a-z_]+").Value;
            var series = all.Split('\n').Where(line => line.StartsWith(metric + "{", StringComparison.Ordinal)
                                                         || line.StartsWith(metric + " ", StringComparison.Ordinal)).ToList();
            Assert.True(series.Count > 0, $"the dashboard queries {metric} ({expression}), which no service's /metrics shows");
            foreach (System.Text.RegularExpressions.Match by in System.Text.RegularExpressions.Regex.Matches(expression, @"by \(([^)]*)\)"))
                foreach (var label in by.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries).Where(l => l != "le"))
                    Assert.True(series.Any(line => line.Contains(label + "=\"", StringComparison.Ordinal)),
                        $"the dashboard groups {metric} by {label}, which its series do not have");
        }
    }

    [Fact]
    public async Task Mcp_and_postgres_wire_requests_are_traced_with_no_token_secret_or_unmasked_value_in_any_span_or_log_line()
    {
        await using var mcp = await McpAgent.ConnectAsync(stack);
        var rows = await mcp.CallAsync("sql_query", new Dictionary<string, object?>
            { ["connection"] = "warehouse", ["sql"] = "SELECT id, email FROM demo.customers ORDER BY id LIMIT 3" });
        Assert.NotEqual(true, rows.IsError);
        Assert.Contains("[EMAIL]", McpAgent.Text(rows));
        var billing = await mcp.CallAsync("http_request", new Dictionary<string, object?>
            { ["connection"] = "demo", ["method"] = "GET", ["path"] = "/customers/1/billing" });
        Assert.NotEqual(true, billing.IsError);
        // An upstream error that quotes a customer's value (PostgreSQL names the text it could not cast).
        await mcp.CallAsync("sql_query", new Dictionary<string, object?>
            { ["connection"] = "warehouse", ["sql"] = "SELECT email::int FROM demo.customers WHERE id = 1" });

        var wireSession = "e2e-otel-wire-" + Guid.NewGuid().ToString("N")[..8];
        await using (var connection = await WireAgent.ConnectAsync(stack, wireSession))
        {
            await using (var command = new Npgsql.NpgsqlCommand("SELECT id, email FROM demo.customers ORDER BY id LIMIT 3", connection))
            await using (var reader = await command.ExecuteReaderAsync())
                while (await reader.ReadAsync()) Assert.Equal("[EMAIL]", reader.GetString(1));
            await using (var cast = new Npgsql.NpgsqlCommand("SELECT email::int FROM demo.customers WHERE id = 2", connection))
            {
                var error = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => cast.ExecuteScalarAsync());
                Assert.DoesNotContain("customer2@example.com", error.MessageText);
            }
        }
        await stack.TimelineAsync(mcp.SessionId, t => t.GetProperty("events").EnumerateArray()
            .Count(e => e.GetProperty("type").GetString() == "RequestCompleted") >= 3);
        await stack.TimelineAsync(wireSession, t => t.GetProperty("events").EnumerateArray()
            .Count(e => e.GetProperty("type").GetString() == "RequestCompleted") >= 2);

        // Traced as the HTTP path is: a wire statement is one trace from the gateway through policy and masking to the audit.
        string[] services = ["portcullis-gateway", "portcullis-policy", "portcullis-masking", "portcullis-audit"];
        foreach (var session in new[] { mcp.SessionId, wireSession })
            await stack.UntilAsync(() => Task.FromResult(SessionSpans(session).Select(s => s.TraceId).Distinct()
                    .Any(trace => services.All(service => stack.Telemetry.Spans.Any(s => s.TraceId == trace && s.Service == service)))),
                $"a trace of session {session} with spans from {string.Join(", ", services)}");

        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        var needles = new Dictionary<string, string> { ["the agent's token"] = token };
        foreach (var (name, secret) in stack.UpstreamSecrets)
            foreach (var line in secret.Split('\n').Select(l => l.Trim()).Where(l => l.Length >= 16 && !l.StartsWith("-----")))
                needles[name] = line;
        foreach (var raw in RawValues.Concat(["customer1@example.com", "customer2@example.com", "customer3@example.com"])) needles[raw] = raw;
        var exports = string.Join('\n', stack.Telemetry.TraceExports);
        foreach (var (what, needle) in needles)
            Assert.False(exports.Contains(needle, StringComparison.Ordinal), $"{what} is in an exported span");
        foreach (var service in new[] { "gateway", "policy", "masking", "audit", "approval" })
        {
            var text = await ReadShared(stack.LogOf(service));
            foreach (var (what, needle) in needles)
                Assert.False(text.Contains(needle, StringComparison.Ordinal), $"{what} is in the {service} log");
        }
    }

    /// <summary>Holds a payments query for an approver (the approve-payments rule), without waiting: its approval id and expiry.</summary>
    private async Task<(string Id, DateTimeOffset ExpiresAt)> OpenApprovalAsync(string session, int paymentId)
    {
        // A stack that has just started can miss the first SQL decision's or approval's deadline (503, fail closed): that
        // request is refused and recorded as such, and sent again.
        for (var attempt = 1; ; attempt++)
        {
            using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
            request.Content = JsonContent.Create(new { sql = $"SELECT id, amount FROM demo.payments WHERE id = {paymentId}" });
            request.Headers.Add("Prefer", "wait=0");
            using var response = await stack.Gateway.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable && attempt < 3) continue;
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            return (body.GetProperty("approvalId").GetString()!, body.GetProperty("expiresAt").GetDateTimeOffset());
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
