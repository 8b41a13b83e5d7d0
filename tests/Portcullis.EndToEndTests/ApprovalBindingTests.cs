using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// An approval covers exactly the action approved: the gateway hashes the connection, protocol and whole action
/// (SQL text and parameters; method, path, query and body), the approval service keeps the hash with the approval,
/// and a re-send that differs in anything is refused while the original still runs.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class ApprovalBindingTests(PortcullisStack stack)
{
    private const string PaymentById = "SELECT id, amount FROM demo.payments WHERE id = $1";

    private static string NewSession() => "e2e-bind-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<HttpResponseMessage> Query(string session, object[] parameters, string? approvalId = null, int wait = 0)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
        request.Content = JsonContent.Create(new { sql = PaymentById, parameters });
        request.Headers.Add("Prefer", $"wait={wait}");
        if (approvalId is not null) request.Headers.Add("X-Portcullis-Approval", approvalId);
        return await stack.Gateway.SendAsync(request);
    }

    private async Task<HttpResponseMessage> Export(string session, string path, string body, string? approvalId = null)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, path, session);
        request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        request.Headers.Add("Prefer", "wait=0");
        if (approvalId is not null) request.Headers.Add("X-Portcullis-Approval", approvalId);
        return await stack.Gateway.SendAsync(request);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private async Task<JsonElement> Approval(string approvalId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            using var attempt = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Get, $"approvals/{approvalId}");
            using var response = await stack.Approval.SendAsync(attempt);
            if (response.IsSuccessStatusCode || DateTime.UtcNow > deadline) return await Json(response);
            await Task.Delay(100);
        }
    }

    private async Task Approve(string approvalId)
    {
        using var request = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post, $"approvals/{approvalId}/approve",
            new { comment = "this one payment" });
        using var response = await stack.Approval.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task AssertCoversAnotherAction(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var problem = await Json(response);
        Assert.Equal("https://portcullis.dev/problems/approval-mismatch", problem.GetProperty("type").GetString());
        Assert.Contains("covers another action", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task An_approved_statement_resent_with_other_parameters_is_refused_and_the_original_runs()
    {
        var session = NewSession();
        using var pending = await Retries.RetryUnavailable(() => Query(session, [1]));
        Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;

        // The approver sees the parameters and the hash of what they approve.
        var approval = await Approval(approvalId);
        Assert.Equal("[1]", approval.GetProperty("action").GetProperty("parameters").GetString());
        Assert.StartsWith("sha256:", approval.GetProperty("actionHash").GetString());
        var webhook = await stack.Webhook.WaitForAsync(m => m.GetProperty("approval").GetProperty("id").GetString() == approvalId,
            TimeSpan.FromSeconds(15));
        Assert.Equal("[1]", webhook.GetProperty("approval").GetProperty("parameters").GetString());

        // Other values, while still pending: refused at once, not held.
        await AssertCoversAnotherAction(await Query(session, [2], approvalId));
        await Approve(approvalId);

        // Other values, or the same value in another type, once granted: refused, and the approval is still there.
        await AssertCoversAnotherAction(await Query(session, [2], approvalId));
        await AssertCoversAnotherAction(await Query(session, ["1"], approvalId));
        await AssertCoversAnotherAction(await Query(session, [1, 2], approvalId));

        using var original = await Query(session, [1], approvalId);
        Assert.Equal(HttpStatusCode.OK, original.StatusCode);
        var rows = (await Json(original)).GetProperty("results")[0].GetProperty("rows");
        Assert.Equal(1, rows.GetArrayLength());
        Assert.Equal(1, rows[0][0].GetInt32());

        // Six answers (a cold stack's 503 retried makes seven); one ran.
        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Count(e => e.GetProperty("type").GetString() == "RequestCompleted") >= 6);
        var types = timeline.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Single(types, t => t == "RequestForwarded");
        Assert.Single(types, t => t == "ApprovalClaimed");
        var requested = timeline.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "ApprovalRequested"
            && e.GetProperty("data").GetProperty("approvalId").GetString() == approvalId);
        Assert.Equal(approval.GetProperty("actionHash").GetString(), requested.GetProperty("data").GetProperty("actionHash").GetString());
    }

    [Fact]
    public async Task An_approved_http_request_resent_with_another_body_is_refused_and_only_the_approved_body_reaches_the_upstream()
    {
        var session = NewSession();
        var path = $"http/demo/customers/export?probe={Guid.NewGuid():N}";
        const string approved = """{"format":"csv","ids":[1,2]}""";
        using var pending = await Retries.RetryUnavailable(() => Export(session, path, approved));
        Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        var approvalId = (await Json(pending)).GetProperty("approvalId").GetString()!;
        var approval = await Approval(approvalId);
        Assert.Contains(approved, approval.GetProperty("bodyPreview").GetString());
        await Approve(approvalId);

        await AssertCoversAnotherAction(await Export(session, path, """{"format":"csv","ids":[1,2,3,4,5,6,7,8,9]}""", approvalId));
        await AssertCoversAnotherAction(await Export(session, path + "&all=true", approved, approvalId));
        using (var original = await Export(session, path, approved, approvalId))
            Assert.NotEqual(HttpStatusCode.Forbidden, original.StatusCode); // forwarded: the demo answers what it answers to a POST

        var probe = path.Split("probe=")[1];
        var seen = (await stack.UpstreamRequests()).Where(r => r.Query?.Contains(probe) == true).ToList();
        Assert.Single(seen);
    }

    [Fact]
    public async Task A_body_larger_than_an_approval_can_cover_is_refused_with_413()
    {
        var session = NewSession();
        var path = $"http/demo/customers/export?probe={Guid.NewGuid():N}";
        using var response = await Export(session, path, new string('x', 1024 * 1024 + 1));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        var problem = await Json(response);
        Assert.Equal("https://portcullis.dev/problems/body-too-large", problem.GetProperty("type").GetString());
        Assert.Contains("approval", problem.GetProperty("detail").GetString());
        var probe = path.Split("probe=")[1];
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }
}
