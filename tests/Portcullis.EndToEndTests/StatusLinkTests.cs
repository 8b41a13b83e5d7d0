using System.Net;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The status URL of a pending approval is a link a person may be shown and click: it is built on the gateway's
/// configured public URL (Gateway:PublicUrl), never on the Host or X-Forwarded-* headers the caller sends.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class StatusLinkTests(PortcullisStack stack)
{
    private const string Forged = "attacker.example";

    private static readonly Dictionary<string, string> ForgedHeaders = new()
    {
        ["Host"] = Forged,
        ["X-Forwarded-Host"] = Forged,
        ["X-Forwarded-Proto"] = "javascript",
        ["X-Forwarded-Prefix"] = "/" + Forged,
        ["Forwarded"] = $"host={Forged};proto=https",
    };

    [Fact]
    public async Task A_forged_host_is_not_in_the_status_url_of_a_pending_http_request()
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/export?probe={Guid.NewGuid():N}",
            "e2e-status-link-" + Guid.NewGuid().ToString("N")[..10]);
        foreach (var (name, value) in ForgedHeaders)
            if (name == "Host") request.Headers.Host = value;
            else request.Headers.TryAddWithoutValidation(name, value);
        request.Headers.Add("Prefer", "wait=0");
        using var response = await stack.Gateway.SendAsync(request);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        var pending = JsonDocument.Parse(body).RootElement;
        var statusUrl = $"{stack.GatewayPublicUrl}/approvals/{pending.GetProperty("approvalId").GetString()}";
        Assert.Equal(statusUrl, pending.GetProperty("statusUrl").GetString());
        Assert.Equal(statusUrl, response.Headers.Location?.ToString());
        Assert.DoesNotContain(Forged, body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("javascript", body, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_forged_host_is_not_in_the_answer_of_a_pending_mcp_tool_call()
    {
        await using var agent = await McpAgent.ConnectAsync(stack);
        foreach (var (name, value) in ForgedHeaders) agent.Headers[name] = value;

        // Nobody decides while the gateway holds the call (Gateway:ApprovalWait): the answer says how to retry.
        var result = await agent.CallAsync("http_request", new Dictionary<string, object?>
            { ["connection"] = "demo", ["method"] = "GET", ["path"] = "/customers/export", ["query"] = $"probe={Guid.NewGuid():N}" });

        var text = McpAgent.Text(result);
        Assert.True(result.IsError == true && text.StartsWith("Approval pending (approval id ", StringComparison.Ordinal), text);
        var approvalId = text["Approval pending (approval id ".Length..text.IndexOf(')')];
        Assert.Contains($"\"statusUrl\":\"{stack.GatewayPublicUrl}/approvals/{approvalId}\"", text);
        Assert.DoesNotContain(Forged, text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("javascript", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_forged_host_is_not_in_the_mcp_authorization_metadata()
    {
        // The 401 tells an MCP client where to learn which provider to send its credentials to: a forged Host there
        // (or in the metadata's resource) would have the client get a token for, and hand it to, the attacker.
        using var challenge = new HttpRequestMessage(HttpMethod.Post, "mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        Forge(challenge);
        using var unauthorized = await stack.Gateway.SendAsync(challenge);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        var header = unauthorized.Headers.WwwAuthenticate.ToString();
        Assert.Contains($"resource_metadata=\"{stack.GatewayPublicUrl}/.well-known/oauth-protected-resource/mcp\"", header);
        Assert.DoesNotContain(Forged, header, StringComparison.OrdinalIgnoreCase);

        foreach (var path in new[] { ".well-known/oauth-protected-resource", ".well-known/oauth-protected-resource/mcp" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            Forge(request);
            using var response = await stack.Gateway.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
            Assert.Equal($"{stack.GatewayPublicUrl}/mcp", JsonDocument.Parse(body).RootElement.GetProperty("resource").GetString());
            Assert.DoesNotContain(Forged, body, StringComparison.OrdinalIgnoreCase);
        }
    }

    private static void Forge(HttpRequestMessage request)
    {
        foreach (var (name, value) in ForgedHeaders)
            if (name == "Host") request.Headers.Host = value;
            else request.Headers.TryAddWithoutValidation(name, value);
    }
}
