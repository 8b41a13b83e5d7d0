using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Upstream resources and prompts through the gateway's /mcp, driven by the official C# client: server-everything's
/// documents, templates and prompts listed under their connection, read through policy (refusals name the rule),
/// masked, and recorded as mcp actions; a misbehaving server's customer data masked as text and as a text blob, its
/// binary blob withheld; resource URIs that try to climb out refused before any upstream sees them.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class McpResourceTests(PortcullisStack stack)
{
    private Task<McpClient> Connect() => McpAgent.ClientAsync(stack, PortcullisStack.McpAgentClient);

    private static string Text(ReadResourceResult result) =>
        string.Join("\n", result.Contents.OfType<TextResourceContents>().Select(c => c.Text));

    private static JsonElement[] Received(JsonElement timeline) =>
        [.. timeline.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("type").GetString() == "RequestReceived")
            .Select(e => e.GetProperty("data").GetProperty("action"))];

    [Fact]
    public async Task Resources_templates_and_prompts_are_listed_under_their_connection_without_the_refused_ones()
    {
        await using var client = await Connect();
        var resources = await client.ListResourcesAsync();
        var uris = resources.Select(r => r.Uri).ToArray();
        Assert.Contains("everything+demo://resource/static/document/architecture.md", uris);
        Assert.Contains("misbehaving+notes://customers.txt", uris);
        // Refused whatever else (everything-no-instructions): not offered.
        Assert.DoesNotContain("everything+demo://resource/static/document/instructions.md", uris);
        Assert.Contains(resources, r => r.Name.StartsWith("everything.", StringComparison.Ordinal));

        var templates = (await client.ListResourceTemplatesAsync()).Select(t => t.UriTemplate).ToArray();
        Assert.Contains("everything+demo://resource/dynamic/text/{resourceId}", templates);

        var prompts = (await client.ListPromptsAsync()).Select(p => p.Name).ToArray();
        Assert.Contains("everything.args-prompt", prompts);
        Assert.Contains("everything.simple-prompt", prompts);
        Assert.DoesNotContain("everything.completable-prompt", prompts);

        // A caller the connections are not visible to sees none of them.
        await using var other = await McpAgent.ClientAsync(stack, PortcullisStack.AgentClient);
        Assert.Empty(await other.ListResourcesAsync());
        Assert.Empty(await other.ListPromptsAsync());
        var hidden = await Assert.ThrowsAsync<McpProtocolException>(() =>
            other.ReadResourceAsync("everything+demo://resource/static/document/architecture.md").AsTask());
        Assert.Contains("no resource", hidden.Message);
    }

    [Fact]
    public async Task A_resource_read_is_one_audited_mcp_action_and_a_denied_one_names_the_rule()
    {
        await using var client = await Connect();
        var read = await client.ReadResourceAsync("everything+demo://resource/static/document/architecture.md");
        Assert.False(string.IsNullOrWhiteSpace(Text(read)));
        Assert.All(read.Contents, c => Assert.StartsWith("everything+demo://", c.Uri));

        // Through a template, as the client expands it.
        var dynamic = await client.ReadResourceAsync("everything+demo://resource/dynamic/text/3");
        Assert.Contains("Resource 3", Text(dynamic));
        // A binary content that is text is decoded, so masking reads it.
        var blob = await client.ReadResourceAsync("everything+demo://resource/dynamic/blob/2");
        Assert.Contains("Resource 2: This is a base64 blob", Text(blob));

        var denied = await Assert.ThrowsAsync<McpProtocolException>(() =>
            client.ReadResourceAsync("everything+demo://resource/static/document/instructions.md").AsTask());
        Assert.Contains("Denied by policy rule 'everything-no-instructions'", denied.Message);
        var deniedBlob = await Assert.ThrowsAsync<McpProtocolException>(() =>
            client.ReadResourceAsync("everything+demo://resource/dynamic/blob/12").AsTask());
        Assert.Contains("Denied by policy rule 'everything-no-blob-over-9'", deniedBlob.Message);

        var timeline = await stack.TimelineAsync(client.SessionId!, t => Received(t).Length >= 5
            && t.GetProperty("events").EnumerateArray().Count(e => e.GetProperty("type").GetString() == "RequestCompleted") >= 5);
        var actions = Received(timeline);
        Assert.All(actions, a => Assert.Equal("mcp", a.GetProperty("protocol").GetString()));
        Assert.Contains(actions, a => a.TryGetProperty("resource", out var uri) && uri.GetString() == "demo://resource/static/document/instructions.md");
        Assert.Contains(actions, a => a.TryGetProperty("resource", out var uri) && uri.GetString() == "demo://resource/dynamic/text/3");
        Assert.All(actions, a => Assert.False(a.TryGetProperty("tool", out _)));
    }

    [Fact]
    public async Task Resource_contents_are_masked_as_text_and_as_text_blobs_and_binary_blobs_are_withheld()
    {
        await using var client = await Connect();
        foreach (var uri in new[] { "misbehaving+notes://customers.txt", "misbehaving+notes://customers.csv" })
        {
            var read = await client.ReadResourceAsync(uri);
            var text = Text(read);
            Assert.Contains("Ada Lovelace", text);
            Assert.Contains("[EMAIL]", text);
            Assert.DoesNotContain("@example.com", text);
            Assert.Empty(read.Contents.OfType<BlobResourceContents>());
        }
        var logo = await client.ReadResourceAsync("misbehaving+notes://logo.png");
        Assert.Empty(logo.Contents.OfType<BlobResourceContents>());
        Assert.Contains("binary resource content withheld by the gateway", Text(logo));
    }

    [Theory]
    [InlineData("misbehaving+notes://customers.txt/../../etc/passwd")]
    [InlineData("misbehaving+notes://x/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("misbehaving+file:///srv/../etc/passwd")]
    [InlineData("misbehaving+file://attacker.example/share/loot")]
    public async Task Resource_uris_that_climb_out_are_refused_before_the_upstream_sees_them(string uri)
    {
        await using var client = await Connect();
        var refused = await Assert.ThrowsAsync<McpProtocolException>(() => client.ReadResourceAsync(uri).AsTask());
        Assert.Contains("The resource URI is refused", refused.Message);
        Assert.DoesNotContain("you asked for", refused.Message);
    }

    [Fact]
    public async Task A_prompt_is_masked_and_a_denied_one_names_the_rule()
    {
        await using var client = await Connect();
        var prompt = await client.GetPromptAsync("everything.args-prompt",
            new Dictionary<string, object?> { ["city"] = "grace.hopper@example.com" });
        var text = string.Join("\n", prompt.Messages.Select(m => m.Content).OfType<TextContentBlock>().Select(c => c.Text));
        Assert.Contains("What's weather in [EMAIL]", text);
        Assert.DoesNotContain("grace.hopper", text);

        var denied = await Assert.ThrowsAsync<McpProtocolException>(() => client.GetPromptAsync("everything.args-prompt",
            new Dictionary<string, object?> { ["city"] = "Atlantis" }).AsTask());
        Assert.Contains("Denied by policy rule 'everything-not-atlantis'", denied.Message);
        var hidden = await Assert.ThrowsAsync<McpProtocolException>(() => client.GetPromptAsync("everything.completable-prompt",
            new Dictionary<string, object?> { ["department"] = "Engineering", ["name"] = "Alice" }).AsTask());
        Assert.Contains("Denied by policy rule 'everything-no-completable-prompt'", hidden.Message);

        var timeline = await stack.TimelineAsync(client.SessionId!, t => Received(t).Length >= 3);
        Assert.Contains(Received(timeline), a => a.TryGetProperty("prompt", out var name) && name.GetString() == "args-prompt");
    }
}
