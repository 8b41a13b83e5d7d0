using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Strict recording: while the audit trail cannot keep up, the gateway refuses agent actions with 503 and the
/// reason, on every surface, and runs nothing; once the audit catches up it serves again within seconds.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class StrictRecordingTests(PortcullisStack stack)
{
    /// <summary>The gateway's default Gateway:AuditLagCeiling.</summary>
    private static readonly TimeSpan Ceiling = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_paused_audit_gets_every_action_refused_with_the_reason_and_nothing_runs_until_it_continues()
    {
        var run = Guid.NewGuid().ToString("N")[..8];
        // Served first (a cold service on a busy machine may miss the first deadline, so a few tries).
        for (var attempt = 1; ; attempt++)
        {
            using var before = await Http("e2e-strict-before-" + run, "before-" + run);
            if (before.StatusCode == HttpStatusCode.OK) break;
            Assert.True(attempt < 5, $"the gateway does not serve before the pause: {await before.Content.ReadAsStringAsync()}");
        }

        // SIGSTOP: the audit's connection and its consumer stay open, so only its silence can show it.
        await stack.PauseAsync("audit");
        var paused = Stopwatch.StartNew();
        var refusedSession = "e2e-strict-refused-" + run;
        var refusedProbe = "refused-" + run;
        try
        {
            // Until the heartbeat is older than the ceiling the gateway still serves (and records, later).
            while (true)
            {
                using var attempt = await Http("e2e-strict-detect-" + run, "detect-" + run);
                if (attempt.StatusCode == HttpStatusCode.ServiceUnavailable) break;
                Assert.Equal(HttpStatusCode.OK, attempt.StatusCode);
                Assert.True(paused.Elapsed < Ceiling + TimeSpan.FromSeconds(5), "the gateway still serves with the audit paused");
                await Task.Delay(250);
            }

            // Every surface refuses, with the reason.
            using var http = await Http(refusedSession, refusedProbe);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, http.StatusCode);
            var detail = await Detail(http);
            Assert.Contains("audit trail", detail);
            Assert.Contains("refused until it catches up", detail);
            using var sql = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", refusedSession);
            sql.Content = JsonContent.Create(new { sql = "SELECT id FROM demo.customers LIMIT 1" });
            using var sqlAnswer = await stack.Gateway.SendAsync(sql);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, sqlAnswer.StatusCode);
            Assert.Contains("audit trail", await Detail(sqlAnswer));
            using var exec = await stack.AgentRequest(HttpMethod.Post, "exec/ops", refusedSession);
            exec.Content = JsonContent.Create(new { command = "echo paused" });
            using var execAnswer = await stack.Gateway.SendAsync(exec);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, execAnswer.StatusCode);
            Assert.Contains("audit trail", await Detail(execAnswer));
            // Not ready while it refuses, so a load balancer can route around it.
            using var ready = await stack.Gateway.GetAsync("health/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }
        finally
        {
            await stack.ResumeAsync("audit");
        }

        var resumed = Stopwatch.StartNew();
        var afterSession = "e2e-strict-after-" + run;
        while (true)
        {
            using var again = await Http(afterSession, "after-" + run);
            if (again.StatusCode == HttpStatusCode.OK) break;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, again.StatusCode);
            Assert.True(resumed.Elapsed < TimeSpan.FromSeconds(10), "the gateway did not serve again within 10 s of the audit continuing");
            await Task.Delay(250);
        }

        // The refused actions neither ran nor were published: the upstream never saw their probe, and once the
        // audit recorded what came after, their session has no record at all.
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(refusedProbe) == true);
        await stack.TimelineAsync(afterSession, t => t.GetProperty("events").GetArrayLength() >= 5);
        using var lookup = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{refusedSession}");
        using var none = await stack.Audit.SendAsync(lookup);
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
    }

    private async Task<HttpResponseMessage> Http(string session, string probe)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/1?probe={probe}", session);
        return await stack.Gateway.SendAsync(request);
    }

    private static async Task<string> Detail(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("detail").GetString()!;
}
