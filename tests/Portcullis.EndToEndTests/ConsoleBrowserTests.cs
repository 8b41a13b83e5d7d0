using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The approver console in a real headless Chromium (Debian's, driven by Playwright): sign in at the OpenID
/// provider, find the pending request with its SQL, approve it with a comment, and the agent's request runs.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class ConsoleBrowserTests(PortcullisStack stack)
{
    private const string Sql = "SELECT id, amount FROM demo.payments WHERE id = 7";

    private static string Chromium =>
        Environment.GetEnvironmentVariable("PORTCULLIS_CHROMIUM") is { Length: > 0 } path ? path
        : File.Exists("/usr/bin/chromium") ? "/usr/bin/chromium"
        : throw new InvalidOperationException(
            "Chromium is not installed: run 'scripts/servers.sh install' (Debian package chromium) or set PORTCULLIS_CHROMIUM.");

    private async Task<HttpResponseMessage> Query(string session, int? wait, string? approvalId = null)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
        request.Content = JsonContent.Create(new { sql = Sql });
        if (wait is { } seconds) request.Headers.Add("Prefer", $"wait={seconds}");
        if (approvalId is not null) request.Headers.Add("X-Portcullis-Approval", approvalId);
        return await stack.Gateway.SendAsync(request);
    }

    [Fact]
    public async Task An_approver_signs_in_sees_the_pending_sql_and_approves_it_and_the_agents_request_runs()
    {
        var session = "e2e-console-" + Guid.NewGuid().ToString("N")[..10];
        using var pending = await Query(session, wait: 0);
        Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
        var approvalId = JsonDocument.Parse(await pending.Content.ReadAsStringAsync()).RootElement
            .GetProperty("approvalId").GetString()!;

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage"],
        });
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(20_000);

        // The link approvers get in the notification; not signed in yet, so the OpenID provider asks who we are.
        await page.GotoAsync(new Uri(stack.ApprovalAddress, $"/console/approvals/{approvalId}").ToString());
        Assert.StartsWith(stack.Issuer.GetLeftPart(UriPartial.Authority), page.Url);
        await page.FillAsync("input[name=username]", PortcullisStack.ConsoleUser);
        await page.FillAsync("input[name=password]", stack.ConsoleUserPassword);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(url => url.StartsWith(stack.ApprovalAddress.GetLeftPart(UriPartial.Authority) + "/console/"));

        Assert.Equal(PortcullisStack.ConsoleUser, await page.Locator("#user").InnerTextAsync());
        var approval = page.Locator($"section[data-approval-id='{approvalId}']");
        Assert.Equal(Sql, (await approval.Locator("pre.action").InnerTextAsync()).Trim());
        Assert.Contains("approve-payments", await approval.InnerTextAsync());
        Assert.Contains(PortcullisStack.AgentClient, await approval.InnerTextAsync());

        await approval.Locator("input[name=comment]").FillAsync("looked at it in the console");
        await approval.Locator("button[value=approve]").ClickAsync();
        var message = await page.Locator("p.message").InnerTextAsync();
        Assert.StartsWith("Approved", message);
        Assert.Equal(0, await page.Locator($"section[data-approval-id='{approvalId}']").CountAsync());

        using var resent = await Query(session, wait: null, approvalId: approvalId);
        Assert.Equal(HttpStatusCode.OK, resent.StatusCode);

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "ApprovalGranted"));
        var granted = timeline.GetProperty("events").EnumerateArray()
            .First(e => e.GetProperty("type").GetString() == "ApprovalGranted").GetProperty("data");
        Assert.Equal(PortcullisStack.ConsoleUser, granted.GetProperty("approver").GetString());
        Assert.Equal("looked at it in the console", granted.GetProperty("comment").GetString());
    }
}
