using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>With a service of the saga gone, the gateway refuses in time and neither executes nor leaks.</summary>
[Collection(StackCollection.Name)]
public sealed class FailClosedTests(PortcullisStack stack)
{
    [Fact]
    public async Task Without_the_policy_service_requests_get_503_within_the_deadline_and_nothing_is_forwarded()
    {
        var probe = Guid.NewGuid().ToString("N");
        await stack.StopAsync("policy");
        try
        {
            using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/1?probe={probe}", "e2e-no-policy");
            var clock = Stopwatch.StartNew();
            using var response = await stack.Gateway.SendAsync(request);
            clock.Stop();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            Assert.Contains("No policy decision", problem.GetProperty("detail").GetString());
            // The deadline is the gateway's configured decision timeout; the margin covers process scheduling.
            Assert.InRange(clock.Elapsed, PortcullisStack.DecisionTimeout * 0.9, PortcullisStack.DecisionTimeout + TimeSpan.FromSeconds(3));
            Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
        }
        finally
        {
            await stack.StartAsync("policy");
        }
    }

    [Fact]
    public async Task Without_the_masking_service_the_upstream_answer_is_withheld()
    {
        await stack.StopAsync("masking");
        try
        {
            using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1", "e2e-no-masking");
            using var response = await stack.Gateway.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("masking", body);
            Assert.DoesNotContain("ada.lovelace@example.com", body);
            Assert.DoesNotContain("Ada Lovelace", body);
        }
        finally
        {
            await stack.StartAsync("masking");
        }
    }

    [Fact]
    public async Task Events_published_while_the_audit_service_is_down_are_recorded_when_it_returns()
    {
        var session = "e2e-audit-down-" + Guid.NewGuid().ToString("N")[..8];
        // Strict recording refuses actions while no audit consumes (the stack's gateway, below); a gateway that
        // does not require it shows what the broker keeps meanwhile.
        var (lenient, client) = await stack.StartExtraGatewayAsync("gateway-audit-optional", new() { ["Gateway__RequireAudit"] = "false" });
        await using var _ = lenient;
        using var __ = client;
        await stack.StopAsync("audit");
        try
        {
            // The broker drops the dead consumer at once; the gateway counts consumers every second.
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                using var strict = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/3", session + "-strict");
                using var refused = await stack.Gateway.SendAsync(strict);
                if (refused.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.Contains("no audit service is consuming", await refused.Content.ReadAsStringAsync());
                    break;
                }
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(5), "the gateway still serves with no audit consumer");
                await Task.Delay(200);
            }
            using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/3", session);
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            // Longer than the decision deadline: a request message that expired with its deadline would be gone.
            await Task.Delay(PortcullisStack.DecisionTimeout + TimeSpan.FromSeconds(2));
        }
        finally
        {
            await stack.StartAsync("audit");
        }

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").GetArrayLength() >= 5);
        Assert.Equal(["RequestReceived", "PolicyEvaluated", "RequestForwarded", "ResponseMasked", "RequestCompleted"],
            timeline.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }
}
