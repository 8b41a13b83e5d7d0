using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
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

    private Task<(int Version, string Yaml)> Current() => stack.CurrentPolicyAsync();

    private Task<(HttpStatusCode Status, JsonElement Body)> Publish(string yaml, int expectedVersion, string comment) =>
        stack.PublishPolicyAsync(yaml, expectedVersion, comment);

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

    /// <summary>
    /// A read that goes to approval: the approval service's first answer of a freshly started stack can miss the gateway's
    /// deadline on a busy machine (503, nothing ran, nothing charged), so such a read is sent again, a few times at most.
    /// </summary>
    private async Task<(HttpStatusCode Status, JsonElement Body)> ReadToApproval(int customer, string session,
        string client = PortcullisStack.AgentClient)
    {
        var answer = await Read(customer, session, client);
        for (var attempt = 0; attempt < 3 && answer.Status == HttpStatusCode.ServiceUnavailable; attempt++)
            answer = await Read(customer, session, client);
        return answer;
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
            var first = AssertSentToApprovalByBudget(await ReadToApproval(1, session), rule);

            // Another identity has a budget of its own.
            Assert.Equal(HttpStatusCode.OK, (await Read(1, NewSession(), PortcullisStack.SecondAgentClient)).Status);

            // The count is kept in PostgreSQL: a restarted policy service still has this agent's budget spent, in a new session.
            await stack.StopAsync("policy");
            await stack.StartAsync("policy");
            var afterRestart = AssertSentToApprovalByBudget(await ReadToApproval(2, NewSession()), rule);

            // Admins see the standing per identity: this agent's spent (and when it frees up), the second agent's not.
            using (var view = await stack.Authorized(PortcullisStack.AdminClient, HttpMethod.Get, $"policy/budgets?rule={rule}"))
            using (var viewed = await stack.Policy.SendAsync(view))
            {
                Assert.Equal(HttpStatusCode.OK, viewed.StatusCode);
                var budget = Assert.Single(JsonDocument.Parse(await viewed.Content.ReadAsStringAsync()).RootElement.EnumerateArray());
                Assert.Equal("1h", budget.GetProperty("window").GetString());
                var scopes = budget.GetProperty("scopes").EnumerateArray().ToDictionary(s => s.GetProperty("scope").GetString()!);
                var spent = scopes[$"identity:{PortcullisStack.AgentClient}"];
                Assert.True(spent.GetProperty("spent").GetBoolean());
                Assert.True(spent.GetProperty("freesAt").GetDateTimeOffset() > DateTimeOffset.UtcNow);
                var requests = Assert.Single(spent.GetProperty("measures").EnumerateArray());
                Assert.Equal("requests", requests.GetProperty("measure").GetString());
                Assert.Equal(Budget, requests.GetProperty("limit").GetInt64());
                // The reads sent to approval are charged when decided and taken off once their outcome is consumed.
                Assert.True(requests.GetProperty("used").GetInt64() >= Budget);
                var other = scopes[$"identity:{PortcullisStack.SecondAgentClient}"];
                Assert.False(other.GetProperty("spent").GetBoolean());
                Assert.Equal(1, other.GetProperty("measures")[0].GetProperty("used").GetInt64());
            }
            using (var agentView = await stack.AgentRequest(HttpMethod.Get, "policy/budgets", NewSession()))
                Assert.Equal(HttpStatusCode.Forbidden, (await stack.Policy.SendAsync(agentView)).StatusCode);

            // An approver grants a window: the agent reads on, without asking again, for as long as it lasts.
            var (decided, granted) = await Decide(afterRestart, "approve", "10m");
            Assert.Equal(HttpStatusCode.OK, decided);
            grant = afterRestart;
            Assert.True(granted.GetProperty("grantedUntil").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(9));
            var onward = NewSession();
            foreach (var customer in new[] { 1, 2, 3 })
                Assert.Equal(HttpStatusCode.OK, (await Read(customer, onward)).Status);
            await Decide(first, "deny");

            // The grant lifts the budget for that identity only: the second agent, once past its own budget, is still sent
            // to approval (it has read one record; two more spend its budget).
            var secondSession = NewSession();
            foreach (var customer in new[] { 2, 3 })
                Assert.Equal(HttpStatusCode.OK, (await Read(customer, secondSession, PortcullisStack.SecondAgentClient)).Status);
            var secondAsks = AssertSentToApprovalByBudget(await ReadToApproval(1, secondSession, PortcullisStack.SecondAgentClient), rule);
            Assert.NotEqual(afterRestart, secondAsks);
            await Decide(secondAsks, "deny");
        }
        finally
        {
            if (grant is not null) await Decide(grant, "revoke");
            await stack.RestorePolicyAsync(yaml, version + 1);
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Query(string sql, string session)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
        request.Content = JsonContent.Create(new { sql });
        using var response = await stack.Gateway.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task Rows_and_masked_emails_a_session_read_through_sql_are_counted_until_the_budget_denies_naming_what_was_used()
    {
        var rule = "e2e-email-budget-" + Guid.NewGuid().ToString("N")[..8];
        var (version, yaml) = await Current();
        var budgeted = yaml.Replace("rules:\n", $"""
            rules:
            - id: {rule}
              effect: deny
              reason: That is enough customer emails for one session.
              match:
                connections: [warehouse]
                sql: {"{"} reads: [demo.customers] {"}"}
              budget: {"{"} window: 1h, per: session, rows: 3, masked: {"{"} EMAIL: 3 {"}"} {"}"}

            """.Replace("\r", ""));
        Assert.Equal(HttpStatusCode.OK, (await Publish(budgeted, version, "customer emails budgeted")).Status);
        await stack.UntilPolicyInForceAsync(version + 1);
        try
        {
            // The rows and masked values are counted from the recorded completion and masking report, after the answer:
            // the agent reads until a decision has them (each read is 2 rows with 2 emails; two under the new version spend both).
            var session = NewSession();
            JsonElement denial = default;
            for (var attempt = 0; attempt < 50 && denial.ValueKind == JsonValueKind.Undefined; attempt++)
            {
                var (status, body) = await Query("SELECT id, email FROM demo.customers WHERE id <= 2 ORDER BY id", session);
                if (status == HttpStatusCode.Forbidden) denial = body;
                else Assert.Equal(HttpStatusCode.OK, status);
            }
            Assert.Equal(rule, denial.GetProperty("rule").GetString());
            var detail = denial.GetProperty("detail").GetString()!;
            // The denial names the limits spent when it was decided: rows (counted from the completion) and, once the
            // masking report of the same reads is counted too, the masked emails; either may be first.
            Assert.Matches($"Budget of rule '{rule}' is spent: ([0-9]+ of 3 rows|[0-9]+ of 3 masked EMAIL values|[0-9]+ of 3 rows, [0-9]+ of 3 masked EMAIL values) per session in the last 1h; it frees up at ", detail);
            Assert.Contains("That is enough customer emails for one session.", detail);

            // Another session of the same agent has a budget of its own; the spent one stays spent.
            Assert.Equal(HttpStatusCode.OK, (await Query("SELECT id, email FROM demo.customers WHERE id = 1", NewSession())).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await Query("SELECT id FROM demo.customers WHERE id = 1", session)).Status);
        }
        finally
        {
            await stack.RestorePolicyAsync(yaml, version + 1);
        }
    }

    /// <summary>
    /// Waits until <paramref name="version"/> decides, seen in the record of a probe no budget applies to (a plain
    /// <c>SELECT 1</c>), so a test that budgets per identity spends nothing of its budget finding out.
    /// </summary>
    private async Task UntilInForce(int version)
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = NewSession();
            Assert.Equal(HttpStatusCode.OK, (await Query("SELECT 1", probe)).Status);
            var timeline = await stack.TimelineAsync(probe, t => t.GetProperty("events").EnumerateArray()
                .Any(e => e.GetProperty("type").GetString() == "PolicyEvaluated"));
            var decidedBy = timeline.GetProperty("events").EnumerateArray().First(e => e.GetProperty("type").GetString() == "PolicyEvaluated")
                .GetProperty("data").GetProperty("policyVersion").GetString();
            if (decidedBy == $"v{version}") return;
            Assert.True(attempt < 50, $"v{version} is not in force: the probe was decided by {decidedBy}");
            await Task.Delay(200);
        }
    }

    /// <summary>
    /// Each measure spends a budget on its own, counted from what the recorded events say the reads returned, and the
    /// denial names that measure: rows and masked emails through /sql, bytes of an HTTP answer the upstream sends chunked
    /// (no Content-Length: the gateway counts the whole body the agent got, not a declared or previewed size).
    /// </summary>
    [Theory]
    [InlineData("rows: 3", "[0-9]+ of 3 rows")]
    [InlineData("masked: { EMAIL: 3 }", "[0-9]+ of 3 masked EMAIL values")]
    [InlineData("bytes: 100", "([0-9]+) of 100 bytes")]
    public async Task Each_measure_spends_a_budget_on_its_own_and_the_denial_names_it(string limit, string used)
    {
        var rule = "e2e-measure-budget-" + Guid.NewGuid().ToString("N")[..8];
        var http = limit.StartsWith("bytes", StringComparison.Ordinal);
        var match = http ? "{ connections: [demo], paths: [/customers] }" : "{ connections: [warehouse], sql: { reads: [demo.customers] } }";
        var (version, yaml) = await Current();
        var budgeted = yaml.Replace("rules:\n", $"""
            rules:
            - id: {rule}
              effect: deny
              reason: Enough for one session.
              match: {match}
              budget: {"{"} window: 1h, per: session, {limit} {"}"}

            """.Replace("\r", ""));
        Assert.Equal(HttpStatusCode.OK, (await Publish(budgeted, version, "one measure budgeted")).Status);
        await stack.UntilPolicyInForceAsync(version + 1);
        try
        {
            if (http)
            {
                // The demo upstream sends the customer list chunked.
                using var direct = new HttpRequestMessage(HttpMethod.Get, "customers");
                direct.Headers.Add("X-Api-Key", stack.UpstreamSecrets["DEMO_API_KEY"]);
                using var upstream = await stack.Upstream.SendAsync(direct);
                Assert.Equal(HttpStatusCode.OK, upstream.StatusCode);
                Assert.True(upstream.Headers.TransferEncodingChunked);
            }

            // Rows, bytes and masked values are counted once the reads' completion and masking report are consumed, after
            // the answers: the session reads until a decision has them (each read is over the limit on its own).
            var session = NewSession();
            JsonElement denial = default;
            var received = new List<long>();
            for (var attempt = 0; attempt < 50 && denial.ValueKind == JsonValueKind.Undefined; attempt++)
            {
                var (status, body, size) = http ? await ReadList(session)
                    : await QueryWithSize("SELECT id, email FROM demo.customers WHERE id <= 2 ORDER BY id", session);
                if (status == HttpStatusCode.Forbidden && body.GetProperty("rule").GetString() == rule) denial = body;
                else
                {
                    Assert.Equal(HttpStatusCode.OK, status);
                    received.Add(size);
                }
            }
            Assert.NotEqual(JsonValueKind.Undefined, denial.ValueKind);
            var detail = denial.GetProperty("detail").GetString()!;
            // Only the measure the budget limits is named, with its use, the scope, the window and when it frees up.
            var named = Regex.Match(detail, $"^Budget of rule '{rule}' is spent: {used} per session in the last 1h; it frees up at [0-9T:Z-]+\\. Enough for one session\\.$");
            Assert.True(named.Success, detail);
            if (http)
            {
                // The bytes counted are the bodies the agent got, whole: at least the first, at most all it received.
                var bytes = long.Parse(named.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
                Assert.InRange(bytes, received[0], received.Sum());
            }

            // Another session of the same agent has a budget of its own.
            var other = http ? await ReadList(NewSession()) : await QueryWithSize("SELECT id FROM demo.customers WHERE id = 1", NewSession());
            Assert.Equal(HttpStatusCode.OK, other.Status);
        }
        finally
        {
            await stack.RestorePolicyAsync(yaml, version + 1);
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body, long Size)> ReadList(string session)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers", session);
        using var response = await stack.Gateway.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, JsonDocument.Parse(bytes).RootElement.Clone(), bytes.LongLength);
    }

    private async Task<(HttpStatusCode Status, JsonElement Body, long Size)> QueryWithSize(string sql, string session)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
        request.Content = JsonContent.Create(new { sql });
        using var response = await stack.Gateway.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, JsonDocument.Parse(bytes).RootElement.Clone(), bytes.LongLength);
    }

    /// <summary>
    /// A rows budget per identity holds across every surface that carries SQL: rows read through the PostgreSQL wire port
    /// are counted, and once the budget is spent MCP's sql_query, the /sql API and the wire itself are refused with the
    /// budget named, in new sessions too; another identity reads on.
    /// </summary>
    [Fact]
    public async Task A_rows_budget_per_identity_counts_the_wire_port_and_holds_for_mcp_sql_query_and_new_sessions()
    {
        var rule = "e2e-rows-everywhere-" + Guid.NewGuid().ToString("N")[..8];
        var (version, yaml) = await Current();
        var budgeted = yaml.Replace("rules:\n", $"""
            rules:
            - id: {rule}
              effect: deny
              reason: Enough customer rows for this agent.
              match: {"{"} connections: [warehouse], sql: {"{"} reads: [demo.customers] {"}"} {"}"}
              budget: {"{"} window: 1h, per: identity, rows: 4 {"}"}

            """.Replace("\r", ""));
        Assert.Equal(HttpStatusCode.OK, (await Publish(budgeted, version, "customer rows budgeted per identity")).Status);
        try
        {
            await UntilInForce(version + 1);
            var spentMessage = $"Budget of rule '{rule}' is spent: ";

            // Through the wire port, two rows a read, until a read is refused by the budget (42501, the budget named).
            PostgresException? refused = null;
            await using (var wire = await WireAgent.ConnectAsync(stack, NewSession()))
            {
                for (var attempt = 0; attempt < 50 && refused is null; attempt++)
                {
                    await using var read = new NpgsqlCommand("SELECT id, email FROM demo.customers WHERE id <= 2 ORDER BY id", wire);
                    try
                    {
                        var rows = 0;
                        await using (var reader = await read.ExecuteReaderAsync())
                            while (await reader.ReadAsync()) rows++;
                        Assert.Equal(2, rows);
                    }
                    catch (PostgresException ex) when (ex.SqlState == "42501" && ex.MessageText.Contains(spentMessage, StringComparison.Ordinal))
                    {
                        refused = ex;
                    }
                }
            }
            Assert.NotNull(refused);
            Assert.Matches($"[0-9]+ of 4 rows per identity in the last 1h; it frees up at ", refused.MessageText);

            // MCP's sql_query, in a session of its own, is refused by the same budget, as a tool error naming it.
            await using (var mcp = await McpAgent.ConnectAsync(stack))
            {
                var result = await mcp.CallAsync("sql_query", new Dictionary<string, object?>
                    { ["connection"] = "warehouse", ["sql"] = "SELECT id FROM demo.customers WHERE id = 1" });
                Assert.True(result.IsError);
                Assert.Contains(spentMessage, McpAgent.Text(result));
            }

            // So is /sql in a new session; the second agent has a budget of its own.
            var (status, body) = await Query("SELECT id FROM demo.customers WHERE id = 1", NewSession());
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Equal(rule, body.GetProperty("rule").GetString());
            using var second = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", NewSession(), PortcullisStack.SecondAgentClient);
            second.Content = JsonContent.Create(new { sql = "SELECT id FROM demo.customers WHERE id = 1" });
            using var secondAnswer = await stack.Gateway.SendAsync(second);
            Assert.Equal(HttpStatusCode.OK, secondAnswer.StatusCode);
        }
        finally
        {
            await stack.RestorePolicyAsync(yaml, version + 1);
        }
    }

    /// <summary>
    /// A request no budgeted rule matches is decided without the ledger: it runs while the budget its session would draw
    /// on is locked by another decision (a request that draws on it waits for that lock, so decisions on one budget are
    /// taken one after the other), and the budget still counts the requests it applies to.
    /// </summary>
    [Fact]
    public async Task A_request_no_budget_applies_to_is_decided_while_its_sessions_budget_is_locked()
    {
        var rule = "e2e-unlocked-budget-" + Guid.NewGuid().ToString("N")[..8];
        var (version, yaml) = await Current();
        var budgeted = yaml.Replace("rules:\n", $"""
            rules:
            - id: {rule}
              effect: deny
              reason: One customer record a session.
              match: {"{"} connections: [demo], paths: [/customers/*] {"}"}
              budget: {"{"} window: 1h, per: session, requests: 1 {"}"}

            """.Replace("\r", ""));
        Assert.Equal(HttpStatusCode.OK, (await Publish(budgeted, version, "one read a session")).Status);
        try
        {
            // Decided by the new version from here on (a dry run says which version decides; nothing is spent finding out).
            await stack.UntilPolicyInForceAsync(version + 1);

            // Another decision holds the session's budget, as the ledger locks it (one transaction-scoped advisory lock per
            // budget and scope, in the policy service's database).
            var session = NewSession();
            await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
            await connection.OpenAsync();
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                await using (var hold = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", connection, transaction))
                {
                    hold.Parameters.AddWithValue("key", $"budget:{rule}:session:{session}");
                    await hold.ExecuteNonQueryAsync();
                }
                var (status, body) = await Query("SELECT id FROM demo.customers WHERE id = 1", session);
                Assert.True(status == HttpStatusCode.OK, $"{status} {body}");
                await transaction.RollbackAsync();
            }

            // The budget itself still counts: the session reads one record, and the second is denied by it.
            Assert.Equal(HttpStatusCode.OK, (await Read(1, session)).Status);
            var second = await Read(2, session);
            Assert.Equal(HttpStatusCode.Forbidden, second.Status);
            Assert.Equal(rule, second.Body.GetProperty("rule").GetString());
        }
        finally
        {
            await stack.RestorePolicyAsync(yaml, version + 1);
        }
    }

    [Fact]
    public async Task Concurrent_reads_get_exactly_the_budgeted_number_of_requests()
    {
        var rule = "e2e-burst-budget-" + Guid.NewGuid().ToString("N")[..8];
        var (version, yaml) = await Current();
        var budgeted = yaml.Replace("rules:\n", $"""
            rules:
            - id: {rule}
              effect: deny
              reason: Slow down.
              match: {"{"} connections: [demo], paths: [/customers/*] {"}"}
              budget: {"{"} window: 1h, per: session, requests: {Budget} {"}"}

            """.Replace("\r", ""));
        Assert.Equal(HttpStatusCode.OK, (await Publish(budgeted, version, "burst budget")).Status);
        try
        {
            // Every read of the burst is decided by the new version (a dry run says which version decides).
            await stack.UntilPolicyInForceAsync(version + 1);

            var session = NewSession();
            var answers = await Task.WhenAll(Enumerable.Range(0, 4 * Budget).Select(i => Read(i % 3 + 1, session)));
            Assert.Equal(Budget, answers.Count(a => a.Status == HttpStatusCode.OK));
            Assert.All(answers.Where(a => a.Status != HttpStatusCode.OK), a =>
            {
                Assert.Equal(HttpStatusCode.Forbidden, a.Status);
                Assert.Equal(rule, a.Body.GetProperty("rule").GetString());
            });
        }
        finally
        {
            await stack.RestorePolicyAsync(yaml, version + 1);
        }
    }

    [Fact]
    public async Task Charges_no_budget_can_count_any_more_are_deleted_and_recent_ones_kept()
    {
        // Older than the retention (7 days, longer than any demo window) and recent, for a rule of this test's own.
        var rule = "e2e-prune-" + Guid.NewGuid().ToString("N")[..8];
        var (old, recent) = (Guid.NewGuid(), Guid.NewGuid());
        await using var database = new Npgsql.NpgsqlConnection(stack.AdminConnectionString);
        await database.OpenAsync();
        await using (var insert = new Npgsql.NpgsqlCommand("""
            INSERT INTO policy.budget_charges (request_id, rule_id, scope, charged_at, requests)
            VALUES (@old, @rule, 'agent', now() - interval '8 days', 1), (@recent, @rule, 'agent', now() - interval '1 hour', 1)
            """, database))
        {
            insert.Parameters.AddWithValue("old", old);
            insert.Parameters.AddWithValue("recent", recent);
            insert.Parameters.AddWithValue("rule", rule);
            await insert.ExecuteNonQueryAsync();
        }

        async Task<List<Guid>> Left()
        {
            await using var read = new Npgsql.NpgsqlCommand("SELECT request_id FROM policy.budget_charges WHERE rule_id = @rule", database);
            read.Parameters.AddWithValue("rule", rule);
            var ids = new List<Guid>();
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync()) ids.Add(reader.GetGuid(0));
            return ids;
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        var left = await Left();
        while (left.Contains(old) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            left = await Left();
        }
        Assert.Equal([recent], left);
        await using var cleanup = new Npgsql.NpgsqlCommand("DELETE FROM policy.budget_charges WHERE rule_id = @rule", database);
        cleanup.Parameters.AddWithValue("rule", rule);
        await cleanup.ExecuteNonQueryAsync();
    }
}
