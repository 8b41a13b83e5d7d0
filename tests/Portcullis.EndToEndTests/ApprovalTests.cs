using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Just-in-time approval through the running stack: the saga in the approval service on real RabbitMQ and
/// PostgreSQL, approvers' tokens from the OpenID provider, agents held at the gateway or answered 202.
/// The rule <c>approve-payments</c> sends any SQL on demo.payments (connection warehouse) to the approvers group.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class ApprovalTests(PortcullisStack stack)
{
    private const string PaymentsQuery = "SELECT id, card_number, amount FROM demo.payments WHERE id <= 3 ORDER BY id";

    private static string NewSession() => "e2e-appr-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<HttpResponseMessage> Query(string session, string sql = PaymentsQuery, int? wait = null,
        string? approvalId = null, string client = PortcullisStack.AgentClient)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session, client);
        request.Content = JsonContent.Create(new { sql });
        if (wait is { } seconds) request.Headers.Add("Prefer", $"wait={seconds}");
        if (approvalId is not null) request.Headers.Add("X-Portcullis-Approval", approvalId);
        return await stack.Gateway.SendAsync(request);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>The pending approval of a session, as an approver lists it.</summary>
    private async Task<JsonElement> PendingFor(string session)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            using var request = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Get, "approvals?state=Pending");
            using var response = await stack.Approval.SendAsync(request);
            response.EnsureSuccessStatusCode();
            foreach (var approval in (await Json(response)).EnumerateArray())
                if (approval.GetProperty("sessionId").GetString() == session) return approval;
            await Task.Delay(100);
        }
        throw new Xunit.Sdk.XunitException($"No pending approval appeared for session {session}.");
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Decide(string client, string approvalId, string verb,
        string? comment = null, string? window = null)
    {
        using var request = await stack.Authorized(client, HttpMethod.Post, $"approvals/{approvalId}/{verb}", new { comment, window });
        using var response = await stack.Approval.SendAsync(request);
        return (response.StatusCode, await Json(response));
    }

    private static string Id(JsonElement approval) => approval.GetProperty("approvalId").GetString()!;

    private static string[] Types(JsonElement timeline) => PortcullisStack.EventTypes(timeline);

    private static JsonElement Data(JsonElement timeline, string type) =>
        timeline.GetProperty("events").EnumerateArray().Last(e => e.GetProperty("type").GetString() == type).GetProperty("data");

    [Fact]
    public async Task An_approver_still_sees_their_pending_approval_behind_five_hundred_newer_ones_for_other_groups()
    {
        var session = NewSession();
        using var held = await Query(session, wait: 1);
        Assert.Equal(HttpStatusCode.Accepted, held.StatusCode);
        var approvalId = Id(await PendingFor(session));

        // 501 newer pending approvals for a group the approver is not in, copied from this one in the store.
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        await using (var flood = new NpgsqlCommand("""
            INSERT INTO approval.mt_doc_approvalstate (id, data, mt_dotnet_type)
            SELECT n.id, s.data || jsonb_build_object('CorrelationId', n.id, 'ApproverGroups', jsonb_build_array('nobody'),
                     'RequesterSubject', 'someone-else', 'SessionId', 'e2e-appr-flood', 'RequestedAt', to_jsonb(now() + interval '1 hour')),
                   s.mt_dotnet_type
            FROM approval.mt_doc_approvalstate s CROSS JOIN LATERAL (SELECT gen_random_uuid() AS id FROM generate_series(1, 501)) n
            WHERE s.id = @id
            """, connection))
        {
            flood.Parameters.AddWithValue("id", Guid.Parse(approvalId));
            Assert.Equal(501, await flood.ExecuteNonQueryAsync());
        }
        try
        {
            using var request = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Get, "approvals?state=Pending");
            using var response = await stack.Approval.SendAsync(request);
            var listed = (await Json(response)).EnumerateArray().ToList();
            Assert.Contains(approvalId, listed.Select(Id));
            Assert.DoesNotContain(listed, a => a.GetProperty("sessionId").GetString() == "e2e-appr-flood"); // not the approver's group
        }
        finally
        {
            await using var cleanup = new NpgsqlCommand("DELETE FROM approval.mt_doc_approvalstate WHERE data ->> 'SessionId' = 'e2e-appr-flood'", connection);
            await cleanup.ExecuteNonQueryAsync();
            await Decide(PortcullisStack.ApproverClient, approvalId, "deny", "test over");
        }
    }

    [Fact]
    public async Task A_held_query_runs_with_masked_rows_once_an_approver_approves_and_the_timeline_shows_every_step()
    {
        var session = NewSession();
        var agent = Query(session); // held at the gateway while the approver decides
        var approval = await PendingFor(session);
        Assert.Equal(PaymentsQuery, approval.GetProperty("action").GetProperty("sql").GetString());
        Assert.Equal("approve-payments", approval.GetProperty("ruleId").GetString());
        Assert.Equal(PortcullisStack.AgentClient, approval.GetProperty("requester").GetProperty("subject").GetString());

        var (status, decided) = await Decide(PortcullisStack.ApproverClient, Id(approval), "approve", "month-end reconciliation");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Granted", decided.GetProperty("state").GetString());

        using var response = await agent;
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var rows = JsonDocument.Parse(body).RootElement.GetProperty("results")[0].GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(3, rows.Length);
        Assert.DoesNotContain("4111111111111111", body);
        Assert.DoesNotContain("5555555555554444", body);
        Assert.Equal("[CARD]", rows[0][1].GetString());

        var timeline = await stack.TimelineAsync(session, t => Types(t).Contains("RequestCompleted"));
        Assert.Equal(["RequestReceived", "PolicyEvaluated", "ApprovalRequested", "ApprovalGranted", "ApprovalClaimed",
            "RequestForwarded", "ResponseMasked", "RequestCompleted"], Types(timeline));
        Assert.Equal("RequireApproval", Data(timeline, "PolicyEvaluated").GetProperty("decision").GetString());
        var granted = Data(timeline, "ApprovalGranted");
        Assert.Equal(PortcullisStack.ApproverClient, granted.GetProperty("approver").GetString());
        Assert.Equal("month-end reconciliation", granted.GetProperty("comment").GetString());
        Assert.Equal("completed", Data(timeline, "RequestCompleted").GetProperty("outcome").GetString());
        Assert.DoesNotContain("4111111111111111", timeline.ToString());

        using var replay = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/replay?format=text");
        var transcript = await (await stack.Audit.SendAsync(replay)).Content.ReadAsStringAsync();
        Assert.Contains("granted by e2e-approver: month-end reconciliation", transcript);
    }

    [Fact]
    public async Task A_request_still_pending_gets_202_and_runs_once_when_resent_with_the_approval_id_after_the_grant()
    {
        var session = NewSession();
        using var first = await Query(session, wait: 0);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.NotNull(first.Headers.RetryAfter);
        var pending = await Json(first);
        var approvalId = pending.GetProperty("approvalId").GetString()!;
        Assert.Equal("pending", pending.GetProperty("approvalStatus").GetString());
        Assert.Equal("approve-payments", pending.GetProperty("rule").GetString());

        // The status URL, on the gateway, with the agent's own token.
        using var statusRequest = await stack.AgentRequest(HttpMethod.Get, pending.GetProperty("statusUrl").GetString()!, session);
        using var statusResponse = await stack.Gateway.SendAsync(statusRequest);
        Assert.Equal(HttpStatusCode.OK, statusResponse.StatusCode);
        Assert.Equal("Pending", (await Json(statusResponse)).GetProperty("state").GetString());

        // Re-sent before anyone decided: still pending, nothing runs.
        using var early = await Query(session, wait: 0, approvalId: approvalId);
        Assert.Equal(HttpStatusCode.Accepted, early.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await Decide(PortcullisStack.ApproverClient, approvalId, "approve")).Status);

        using var resent = await Query(session, approvalId: approvalId);
        Assert.Equal(HttpStatusCode.OK, resent.StatusCode);
        Assert.DoesNotContain("4111111111111111", await resent.Content.ReadAsStringAsync());

        // Once only: the same approval does not run the action a second time.
        using var again = await Query(session, approvalId: approvalId);
        Assert.Equal(HttpStatusCode.Forbidden, again.StatusCode);
        Assert.Contains("already ran", (await Json(again)).GetProperty("detail").GetString());

        // Nor does it run another action.
        using var other = await Query(session, "SELECT count(*) FROM demo.payments", wait: 0, approvalId: approvalId);
        Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);

        var timeline = await stack.TimelineAsync(session, t => Types(t).Count(x => x == "RequestCompleted") == 5);
        Assert.Single(Types(timeline), t => t == "RequestForwarded");
        Assert.Single(Types(timeline), t => t == "ApprovalClaimed");
        Assert.Equal("approval_pending", timeline.GetProperty("events").EnumerateArray()
            .First(e => e.GetProperty("type").GetString() == "RequestCompleted").GetProperty("data").GetProperty("outcome").GetString());
    }

    [Fact]
    public async Task A_denial_refuses_the_held_request_with_the_approvers_comment_and_nothing_runs()
    {
        var session = NewSession();
        var agent = Query(session);
        var approval = await PendingFor(session);
        var (status, _) = await Decide(PortcullisStack.ApproverClient, Id(approval), "deny", "not during the freeze");
        Assert.Equal(HttpStatusCode.OK, status);

        using var response = await agent;
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await Json(response);
        Assert.Equal(PortcullisStack.ApproverClient, problem.GetProperty("approver").GetString());
        Assert.Equal("not during the freeze", problem.GetProperty("comment").GetString());

        var timeline = await stack.TimelineAsync(session, t => Types(t).Contains("RequestCompleted"));
        Assert.Contains("ApprovalDenied", Types(timeline));
        Assert.DoesNotContain("RequestForwarded", Types(timeline));
    }

    [Fact]
    public async Task A_decision_is_taken_once_even_when_two_approvers_race()
    {
        var session = NewSession();
        using var pending = await Query(session, wait: 0);
        var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;
        await PendingFor(session);

        var decisions = await Task.WhenAll(
            Decide(PortcullisStack.ApproverClient, approvalId, "approve", "first"),
            Decide(PortcullisStack.SecondApproverClient, approvalId, "deny", "second"));
        Assert.Single(decisions, d => d.Status == HttpStatusCode.OK);
        var loser = Assert.Single(decisions, d => d.Status != HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.Conflict, loser.Status);
        Assert.Equal("already_decided", loser.Body.GetProperty("code").GetString());

        var (again, body) = await Decide(PortcullisStack.ApproverClient, approvalId, "approve");
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Equal("already_decided", body.GetProperty("code").GetString());

        // The stored saga has one decision, and the session records exactly one.
        var timeline = await stack.TimelineAsync(session, t => Types(t).Any(x => x is "ApprovalGranted" or "ApprovalDenied"));
        await Task.Delay(500);
        timeline = await stack.TimelineAsync(session, _ => true);
        Assert.Equal(1, Types(timeline).Count(t => t is "ApprovalGranted" or "ApprovalDenied"));
    }

    [Fact]
    public async Task Requesters_cannot_approve_their_own_actions_and_non_approvers_cannot_approve_at_all()
    {
        var session = NewSession();
        using var pending = await Query(session, wait: 0, client: PortcullisStack.AgentApproverClient);
        Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;
        await PendingFor(session);

        var (self, selfBody) = await Decide(PortcullisStack.AgentApproverClient, approvalId, "approve");
        Assert.Equal(HttpStatusCode.Forbidden, self);
        Assert.Equal("self_approval", selfBody.GetProperty("code").GetString());

        var (auditor, auditorBody) = await Decide(PortcullisStack.AuditorClient, approvalId, "approve");
        Assert.Equal(HttpStatusCode.Forbidden, auditor);
        Assert.Equal("not_approver", auditorBody.GetProperty("code").GetString());

        // Neither attempt decided anything: it is still pending, and a real approver can still decide it.
        using var still = await Query(session, wait: 0, approvalId: approvalId, client: PortcullisStack.AgentApproverClient);
        Assert.Equal(HttpStatusCode.Accepted, still.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Decide(PortcullisStack.ApproverClient, approvalId, "deny")).Status);

        // Unknown approvals are not found.
        var (unknown, _) = await Decide(PortcullisStack.ApproverClient, Guid.NewGuid().ToString(), "approve");
        Assert.Equal(HttpStatusCode.NotFound, unknown);
    }

    [Fact]
    public async Task A_time_window_grant_lets_matching_requests_pass_until_it_is_revoked()
    {
        var session = NewSession();
        var agent = Query(session);
        var approval = await PendingFor(session);
        var (status, granted) = await Decide(PortcullisStack.ApproverClient, Id(approval), "approve", "on call tonight", "5m");
        Assert.Equal(HttpStatusCode.OK, status);
        var revoked = HttpStatusCode.NotFound;
        try
        {
            Assert.True(granted.GetProperty("grantedUntil").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(4));
            using (var first = await agent) Assert.Equal(HttpStatusCode.OK, first.StatusCode);

            // Another session of the same agent, another query on the same rule: runs without asking.
            var later = NewSession();
            using (var second = await Query(later, "SELECT count(*) FROM demo.payments", wait: 0))
                Assert.Equal(HttpStatusCode.OK, second.StatusCode);
            var timeline = await stack.TimelineAsync(later, t => Types(t).Contains("RequestCompleted"));
            Assert.Contains("ApprovalClaimed", Types(timeline));
            Assert.DoesNotContain("ApprovalRequested", Types(timeline));
            Assert.Equal(Id(approval), Data(timeline, "ApprovalClaimed").GetProperty("approvalId").GetString());

            // Another principal is not covered by it.
            using (var someoneElse = await Query(NewSession(), wait: 0, client: PortcullisStack.AgentApproverClient))
                Assert.Equal(HttpStatusCode.Accepted, someoneElse.StatusCode);

            (revoked, _) = await Decide(PortcullisStack.ApproverClient, Id(approval), "revoke", "shift over");
        }
        finally
        {
            // A five-minute grant left behind would let the agent's payments queries through in the tests that follow.
            if (revoked != HttpStatusCode.OK) await Decide(PortcullisStack.ApproverClient, Id(approval), "revoke", "test over");
        }
        Assert.Equal(HttpStatusCode.OK, revoked);
        using (var third = await Query(NewSession(), wait: 0)) Assert.Equal(HttpStatusCode.Accepted, third.StatusCode);
        var original = await stack.TimelineAsync(session, t => Types(t).Contains("GrantRevoked"));
        Assert.Equal(PortcullisStack.ApproverClient, Data(original, "GrantRevoked").GetProperty("revokedBy").GetString());
    }

    [Fact]
    public async Task A_pending_approval_survives_a_restart_of_the_approval_service_and_is_then_approved()
    {
        var session = NewSession();
        using var pending = await Query(session, wait: 0);
        var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;
        await PendingFor(session);

        await stack.StopAsync("approval");
        await stack.StartAsync("approval");

        var approval = await PendingFor(session);
        Assert.Equal(approvalId, Id(approval));
        Assert.Equal(HttpStatusCode.OK, (await Decide(PortcullisStack.ApproverClient, approvalId, "approve", "after restart")).Status);
        // The restarted service's first answers are cold: one past the gateway's deadline is a 503 (nothing ran), sent again.
        using var resent = await Retries.RetryUnavailable(() => Query(session, approvalId: approvalId));
        Assert.Equal(HttpStatusCode.OK, resent.StatusCode);
    }

    [Fact]
    public async Task An_approval_nobody_decides_expires_even_when_its_deadline_passes_while_the_service_is_down()
    {
        var session = NewSession();
        using var pending = await Query(session, wait: 0);
        var body = await Json(pending);
        var approvalId = body.GetProperty("approvalId").GetString()!;
        var expiresAt = body.GetProperty("expiresAt").GetDateTimeOffset();
        await PendingFor(session);

        await stack.StopAsync("approval");
        var untilDeadline = expiresAt - DateTimeOffset.UtcNow + TimeSpan.FromSeconds(1);
        if (untilDeadline > TimeSpan.Zero) await Task.Delay(untilDeadline);
        await stack.StartAsync("approval");

        var timeline = await stack.TimelineAsync(session, t => Types(t).Contains("ApprovalExpired"));
        Assert.Equal(approvalId, Data(timeline, "ApprovalExpired").GetProperty("approvalId").GetString());
        var (late, lateBody) = await Decide(PortcullisStack.ApproverClient, approvalId, "approve");
        Assert.Equal(HttpStatusCode.Conflict, late);
        Assert.Contains("expired", lateBody.GetProperty("detail").GetString());
        // The restarted service's first answers are cold: one past the gateway's deadline is a 503 (nothing ran), sent again.
        using var resent = await Retries.RetryUnavailable(() => Query(session, approvalId: approvalId));
        Assert.Equal(HttpStatusCode.Forbidden, resent.StatusCode);
        Assert.Contains("expired", (await Json(resent)).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Approvers_are_told_through_the_webhook_with_the_requester_connection_sql_rule_and_a_link()
    {
        var session = NewSession();
        using var pending = await Query(session, wait: 0);
        var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;

        var message = await stack.Webhook.WaitForAsync(m => m.GetProperty("approval").GetProperty("id").GetString() == approvalId,
            TimeSpan.FromSeconds(15));
        Assert.Contains(PortcullisStack.AgentClient, message.GetProperty("text").GetString());
        Assert.Equal("section", message.GetProperty("blocks")[0].GetProperty("type").GetString());
        var approval = message.GetProperty("approval");
        Assert.Equal("warehouse", approval.GetProperty("connection").GetString());
        Assert.Equal(PaymentsQuery, approval.GetProperty("action").GetString());
        Assert.Equal("approve-payments", approval.GetProperty("rule").GetString());
        var link = approval.GetProperty("link").GetString()!;
        Assert.Equal(new Uri(stack.ApprovalAddress, $"/console/approvals/{approvalId}"), new Uri(link));
        // Slack's control characters are escaped; the query is otherwise shown as the agent wrote it.
        Assert.Equal($"```{PaymentsQuery.Replace("<", "&lt;")}```",
            message.GetProperty("blocks")[1].GetProperty("text").GetProperty("text").GetString());
    }

    [Fact]
    public async Task With_a_Dapr_sidecar_approvers_are_told_through_the_output_binding()
    {
        await using var dapr = await DaprRuntimeEndpoint.StartAsync("none", new Dictionary<string, string>(),
            ServiceProcess.FreePort(), binding: "approver-alerts");
        // This test's approval service: the stack's, started again with a sidecar configured.
        await stack.StopAsync("approval");
        var (sidecarApproval, client) = await stack.StartExtraAsync("approval", "approval-dapr", new()
        {
            ["DAPR_GRPC_ENDPOINT"] = $"http://127.0.0.1:{dapr.Port}",
            ["Notifications__DaprBinding"] = "approver-alerts",
        }, stack.ApprovalAddress.Port);
        try
        {
            var session = NewSession();
            // A service just started answers its first requests cold: one past the gateway's deadline is a 503, sent again.
            using var pending = await Retries.RetryUnavailable(() => Query(session, wait: 0));
            Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
            var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;

            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (DateTime.UtcNow < deadline && !dapr.Bindings.Any(b => b.Metadata.GetValueOrDefault("approvalId") == approvalId))
                await Task.Delay(100);
            var binding = Assert.Single(dapr.Bindings, b => b.Metadata.GetValueOrDefault("approvalId") == approvalId);
            Assert.Equal("create", binding.Operation);
            var payload = JsonDocument.Parse(binding.Data.ToByteArray()).RootElement;
            Assert.Equal(PaymentsQuery, payload.GetProperty("approval").GetProperty("action").GetString());
            Assert.Equal("warehouse", payload.GetProperty("approval").GetProperty("connection").GetString());
            Assert.DoesNotContain(stack.Webhook.Received, m => m.GetProperty("approval").GetProperty("id").GetString() == approvalId);
        }
        finally
        {
            client.Dispose();
            await sidecarApproval.StopAsync();
            await stack.StartAsync("approval");
        }
    }
}
