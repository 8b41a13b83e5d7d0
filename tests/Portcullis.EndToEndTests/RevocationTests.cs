using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Who may end a time-window grant early: the approver who granted it, members of its rule's approver groups, and
/// admins. The agent holding it, another agent, an auditor and any other token are refused with 403, and the grant
/// goes on covering its holder.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class RevocationTests(PortcullisStack stack)
{
    private const string PaymentsQuery = "SELECT count(*) FROM demo.payments";

    private static string NewSession() => "e2e-revoke-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<HttpResponseMessage> Query(string client)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", NewSession(), client);
        request.Content = JsonContent.Create(new { sql = PaymentsQuery });
        request.Headers.Add("Prefer", "wait=0");
        return await stack.Gateway.SendAsync(request);
    }

    /// <summary>A five-minute grant for <paramref name="holder"/>, approved by the first approver.</summary>
    private async Task<string> GrantFor(string holder)
    {
        using var pending = await Retries.RetryUnavailable(() => Query(holder));
        Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        var approvalId = JsonDocument.Parse(await pending.Content.ReadAsStringAsync()).RootElement.GetProperty("approvalId").GetString()!;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            using var approve = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post, $"approvals/{approvalId}/approve",
                new { comment = "on call", window = "5m" });
            using var response = await stack.Approval.SendAsync(approve);
            if (response.StatusCode == HttpStatusCode.OK) return approvalId;
            Assert.True(response.StatusCode == HttpStatusCode.NotFound && DateTime.UtcNow < deadline, $"approve answered {response.StatusCode}");
            await Task.Delay(100); // the saga stores the approval a moment after the gateway's answer
        }
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> Revoke(string approvalId, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"approvals/{approvalId}/revoke") { Content = JsonContent.Create(new { comment = "test" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await stack.Approval.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task The_holder_another_agent_an_auditor_and_any_other_token_cannot_revoke_and_the_grant_still_covers_its_holder()
    {
        var approvalId = await GrantFor(PortcullisStack.AgentClient);
        try
        {
            foreach (var (who, token) in new[]
                     {
                         ("the holder", await stack.TokenFor(PortcullisStack.AgentClient)),
                         ("another agent", await stack.TokenFor(PortcullisStack.SecondAgentClient)),
                         ("an auditor", await stack.TokenFor(PortcullisStack.AuditorClient)),
                         ("a token without groups", await stack.MintAsync("someone-" + Guid.NewGuid().ToString("N")[..6])),
                     })
            {
                var (status, problem) = await Revoke(approvalId, token);
                Assert.True(status == HttpStatusCode.Forbidden, $"{who}: {status} {problem}");
                Assert.Equal("not_approver", problem.GetProperty("code").GetString());
            }
            using var covered = await Query(PortcullisStack.AgentClient);
            Assert.Equal(HttpStatusCode.OK, covered.StatusCode);
        }
        finally
        {
            Assert.Equal(HttpStatusCode.OK, (await Revoke(approvalId, await stack.TokenFor(PortcullisStack.ApproverClient))).Status);
        }
    }

    [Fact]
    public async Task The_approver_who_granted_it_another_member_of_its_approver_groups_and_an_admin_can_revoke()
    {
        foreach (var (who, token) in new[]
                 {
                     ("the approver who granted it", await stack.TokenFor(PortcullisStack.ApproverClient)),
                     ("the approver who granted it, no longer in the group", await stack.MintAsync(PortcullisStack.ApproverClient)),
                     ("another approver", await stack.TokenFor(PortcullisStack.SecondApproverClient)),
                     ("an agent who is also an approver", await stack.TokenFor(PortcullisStack.AgentApproverClient)),
                     ("an admin", await stack.TokenFor(PortcullisStack.AdminClient)),
                 })
        {
            var approvalId = await GrantFor(PortcullisStack.AgentClient);
            var (status, body) = await Revoke(approvalId, token);
            // A grant left standing would let the agent's payments queries through in the tests that follow.
            if (status != HttpStatusCode.OK) await Revoke(approvalId, await stack.TokenFor(PortcullisStack.ApproverClient));
            Assert.True(status == HttpStatusCode.OK, $"{who}: {status} {body}");
            Assert.Equal("Revoked", body.GetProperty("state").GetString());
            using var after = await Query(PortcullisStack.AgentClient); // no longer covered: asks again
            Assert.Equal(HttpStatusCode.Accepted, after.StatusCode);
        }
    }

    [Fact]
    public async Task An_agent_who_is_also_an_approver_cannot_revoke_a_grant_it_holds()
    {
        var approvalId = await GrantFor(PortcullisStack.AgentApproverClient);
        try
        {
            var (status, body) = await Revoke(approvalId, await stack.TokenFor(PortcullisStack.AgentApproverClient));
            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("holder", body.GetProperty("detail").GetString());
        }
        finally
        {
            Assert.Equal(HttpStatusCode.OK, (await Revoke(approvalId, await stack.TokenFor(PortcullisStack.ApproverClient))).Status);
        }
    }
}
