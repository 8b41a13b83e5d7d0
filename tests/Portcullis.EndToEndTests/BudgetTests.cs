using System.Net;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// A budget on a rule, through the running stack: an agent reading customer records one by one through the gateway is
/// sent to approval once it has read its budget, counted by the policy service in PostgreSQL from the recorded events.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class BudgetTests(PortcullisStack stack)
{
    private const int Budget = 3;

    private static string NewSession() => "e2e-budget-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<(int Version, string Yaml)> Current()
    {
        using var request = await stack.Authorized(PortcullisStack.AdminClient, HttpMethod.Get, "policy");
        using var response = await stack.Policy.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return (body.GetProperty("version").GetInt32(), body.GetProperty("yaml").GetString()!);
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Publish(string yaml, int expectedVersion, string comment)
    {
        using var request = await stack.Authorized(PortcullisStack.AdminClient, HttpMethod.Put, "policy",
            new { yaml, expectedVersion, comment });
        using var response = await stack.Policy.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Read(int customer, string session, string client = PortcullisStack.AgentClient,
        string? approvalId = null)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/{customer}", session, client);
        request.Headers.Add("Prefer", "wait=0");
        if (approvalId is not null) request.Headers.Add("X-Portcullis-Approval", approvalId);
        using var response = await stack.Gateway.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Decide(string approvalId, string verb, string? window = null)
    {
        using var request = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post, $"approvals/{approvalId}/{verb}",
            new { comment = "budget e2e", window });
        using var response = await stack.Approval.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>Asserts the agent was sent to approval by the budget, and says so: which budget, how much is used, when it frees up.</summary>
    private static string AssertSentToApprovalByBudget((HttpStatusCode Status, JsonElement Body) answer, string rule)
    {
        Assert.Equal(HttpStatusCode.Accepted, answer.Status);
        Assert.Equal(rule, answer.Body.GetProperty("rule").GetString());
        var detail = answer.Body.GetProperty("detail").GetString()!;
        Assert.Contains($"Budget of rule '{rule}' is spent: {Budget} of {Budget} requests per identity in the last 1h; it frees up at ", detail);
        Assert.Contains("Reading more customer records needs an approver.", detail);
        return answer.Body.GetProperty("approvalId").GetString()!;
    }

    [Fact]
    public async Task An_agent_reading_customers_one_by_one_is_sent_to_approval_at_its_budget_kept_across_a_restart_until_a_window_grant()
    {
        // A rule of its own per run: the ledger keeps what earlier runs read for an hour.
        var rule = "e2e-customer-budget-" + Guid.NewGuid().ToString("N")[..8];
        var (version, yaml) = await Current();
        var budgeted = yaml.Replace("rules:\n", $"""
            rules:
            - id: {rule}
              effect: require_approval
              approvers: [approvers]
              reason: Reading more customer records needs an approver.
              match:
                connections: [demo]
                methods: [GET]
                paths: [/customers/*]
              budget: {"{"} window: 1h, per: identity, requests: {Budget} {"}"}

            """.Replace("\r", ""));
        Assert.NotEqual(yaml, budgeted);
        var published = await Publish(budgeted, version, "customer reads budgeted");
        Assert.Equal(HttpStatusCode.OK, published.Status);
        string? grant = null;
        try
        {
            // The new version is in force once a read decided under it names it; reads before that are not charged.
            var session = NewSession();
            var reads = 0;
            for (var attempt = 1; reads < Budget; attempt++)
            {
                var (status, _) = await Read(attempt % 3 + 1, session);
                Assert.Equal(HttpStatusCode.OK, status);
                var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
                    .Count(e => e.GetProperty("type").GetString() == "PolicyEvaluated") == attempt);
                if (timeline.GetProperty("events").EnumerateArray().Last(e => e.GetProperty("type").GetString() == "PolicyEvaluated")
                        .GetProperty("data").GetProperty("policyVersion").GetString() == $"v{version + 1}")
                    reads++;
            }

            // The next read is past the budget: sent to approval, with the budget named.
            var first = AssertSentToApprovalByBudget(await Read(1, session), rule);

            // Another identity has a budget of its own.
            Assert.Equal(HttpStatusCode.OK, (await Read(1, NewSession(), PortcullisStack.SecondAgentClient)).Status);

            // The count is kept in PostgreSQL: a restarted policy service still has this agent's budget spent, in a new session.
            await stack.StopAsync("policy");
            await stack.StartAsync("policy");
            var afterRestart = AssertSentToApprovalByBudget(await Read(2, NewSession()), rule);

            // An approver grants a window: the agent reads on, without asking again, for as long as it lasts.
            var (decided, granted) = await Decide(afterRestart, "approve", "10m");
            Assert.Equal(HttpStatusCode.OK, decided);
            grant = afterRestart;
            Assert.True(granted.GetProperty("grantedUntil").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(9));
            var onward = NewSession();
            foreach (var customer in new[] { 1, 2, 3 })
                Assert.Equal(HttpStatusCode.OK, (await Read(customer, onward)).Status);
            await Decide(first, "deny");
        }
        finally
        {
            if (grant is not null) await Decide(grant, "revoke");
            Assert.Equal(HttpStatusCode.OK, (await Publish(yaml, version + 1, "restore")).Status);
        }
    }
}
