using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Upstream MCP servers that fail: one that never answers, one that answers malformed JSON-RPC (with customer emails
/// in it), one that dies mid-call, and an HTTP server restarted under the gateway (its session gone). Each gives the
/// agent a tool error and the audit a failed outcome within the connection's timeout, never an unmasked result; the
/// next call finds a working server again.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class McpFailureTests(PortcullisStack stack)
{
    private Task<McpClient> Connect() => McpAgent.ClientAsync(stack, PortcullisStack.McpAgentClient);

    private static string Text(CallToolResult result) => McpAgent.Text(result);

    private static string[] Outcomes(JsonElement timeline) => [.. timeline.GetProperty("events").EnumerateArray()
        .Where(e => e.GetProperty("type").GetString() == "RequestCompleted")
        .Select(e => e.GetProperty("data").GetProperty("outcome").GetString()!)];

    [Theory]
    [InlineData("hang")]
    [InlineData("malformed")]
    [InlineData("garbage")]
    [InlineData("crash")]
    public async Task A_misbehaving_server_gives_a_tool_error_and_a_failed_outcome_and_never_its_unmasked_words(string tool)
    {
        await using var client = await Connect();
        // The client waits far longer than the connection's 3s timeout: the gateway, not the client, ends the call.
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var failed = await client.CallToolAsync($"misbehaving.{tool}", new Dictionary<string, object?>(), cancellationToken: patience.Token);
        Assert.True(failed.IsError, Text(failed));
        Assert.Contains("MCP server failed", Text(failed));
        Assert.DoesNotContain("@example.com", Text(failed));
        Assert.DoesNotContain("Ada Lovelace", Text(failed));

        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.Equal("upstream_failed", Assert.Single(Outcomes(timeline)));
        Assert.DoesNotContain("@example.com", timeline.ToString());

        // The server is usable again (started anew where it died).
        var fine = await client.CallToolAsync("misbehaving.fine", new Dictionary<string, object?>(), cancellationToken: patience.Token);
        Assert.False(fine.IsError == true, Text(fine));
        Assert.Contains("all well from fine", Text(fine));
    }

    [Fact]
    public async Task An_http_server_restarted_under_the_gateway_is_reconnected_on_the_next_call()
    {
        await using var client = await Connect();
        var before = await client.CallToolAsync("everything-long.echo", new Dictionary<string, object?> { ["message"] = "before" });
        Assert.False(before.IsError == true, Text(before));

        // The gateway's session with the upstream is gone with the process that held it.
        await stack.RestartEverythingAsync();

        // Listing is a read: asked again on a new session at once.
        Assert.Contains("everything-long.echo", (await client.ListToolsAsync()).Select(t => t.Name));
        var after = await client.CallToolAsync("everything-long.echo", new Dictionary<string, object?> { ["message"] = "after" });
        Assert.False(after.IsError == true, Text(after));
        Assert.Contains("after", Text(after));
    }

    [Fact]
    public async Task A_long_running_tool_reports_progress_through_the_gateway_and_finishes_within_its_timeout()
    {
        await using var client = await Connect();
        var progress = new List<ProgressNotificationValue>();
        var result = await client.CallToolAsync("everything-long.trigger-long-running-operation",
            new Dictionary<string, object?> { ["duration"] = 3, ["steps"] = 3 },
            new Progress(progress));
        Assert.False(result.IsError == true, Text(result));
        Assert.Contains("Long running operation completed", Text(result));
        lock (progress)
        {
            Assert.NotEmpty(progress);
            Assert.All(progress, p => Assert.Equal(3, p.Total));
        }
    }

    [Fact]
    public async Task Hostile_tool_offers_cannot_shadow_our_tools_spoof_a_prefix_or_flood_the_list()
    {
        await using var client = await Connect();
        var tools = await client.ListToolsAsync();
        var names = tools.Select(t => t.Name).ToArray();
        // Our own sql_query stays ours: the upstream's is listed under its connection.
        Assert.Single(names, n => n == "sql_query");
        Assert.Contains("misbehaving.sql_query", names);
        // A tool posing as another connection's is listed (and called) under its own connection.
        Assert.Contains("misbehaving.files.read_text_file", names);
        var posing = await client.CallToolAsync("misbehaving.files.read_text_file", new Dictionary<string, object?>());
        Assert.Contains("all well from files.read_text_file", Text(posing));
        // One name offered twice, or a name that is not a name: left out, and not callable.
        Assert.DoesNotContain("misbehaving.dup", names);
        Assert.DoesNotContain(names, n => n.Contains('\n') || n.Contains("ignore all previous"));
        var dup = await client.CallToolAsync("misbehaving.dup", new Dictionary<string, object?>());
        Assert.True(dup.IsError);
        Assert.DoesNotContain("all well", Text(dup));
        // A description the size of a book is cut.
        Assert.True(tools.Single(t => t.Name == "misbehaving.verbose").Description!.Length <= 4096 + 30);
    }

    [Fact]
    public async Task Arguments_outside_the_tools_schema_are_refused_before_the_upstream_sees_them()
    {
        await using var client = await Connect();
        foreach (var (arguments, expected) in new (Dictionary<string, object?>, string)[]
                 {
                     (new(), "'count' is required"),
                     (new() { ["count"] = "seven" }, "'count' must be integer"),
                     (new() { ["count"] = 7, ["path"] = "/etc/passwd" }, "'path' is not an argument of this tool"),
                 })
        {
            var refused = await client.CallToolAsync("misbehaving.typed", arguments);
            Assert.True(refused.IsError);
            Assert.Contains(expected, Text(refused));
            Assert.DoesNotContain("all well", Text(refused));
        }
        var fits = await client.CallToolAsync("misbehaving.typed", new Dictionary<string, object?> { ["count"] = 7 });
        Assert.Contains("all well from typed", Text(fits));
    }

    [Fact]
    public async Task A_tool_whose_description_reads_like_instructions_is_held_at_first_sight_until_an_admin_accepts_it()
    {
        await using var client = await Connect();
        Assert.DoesNotContain("misbehaving.notes", (await client.ListToolsAsync()).Select(t => t.Name));
        var held = await client.CallToolAsync("misbehaving.notes", new Dictionary<string, object?>());
        Assert.True(held.IsError);
        Assert.Contains("reads like instructions to the agent", Text(held));
        Assert.DoesNotContain("all well", Text(held));

        const string stream = "gateway:mcp-tools:misbehaving";
        JsonElement? Flagged(JsonElement timeline) => timeline.GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "McpToolDefinitionChanged").Select(e => e.GetProperty("data"))
            .Cast<JsonElement?>().FirstOrDefault(d => d!.Value.GetProperty("tool").GetString() == "notes");
        var audited = await stack.AuditTimelineAsync(stream, t => Flagged(t) is not null, async () => await client.ListToolsAsync());
        var change = Flagged(audited)!.Value;
        Assert.StartsWith("flagged:", change.GetProperty("pinnedHash").GetString());
        var offered = change.GetProperty("offeredHash").GetString()!;

        using (var accept = await stack.Authorized(PortcullisStack.AdminClient, HttpMethod.Post, "policy/mcp-tools/accept",
                   new { connection = "misbehaving", tool = "notes", hash = offered, comment = "read it; harmless here" }))
        using (var accepted = await stack.Policy.SendAsync(accept))
            Assert.Equal(System.Net.HttpStatusCode.OK, accepted.StatusCode);
        await stack.UntilAsync(async () => (await client.ListToolsAsync()).Any(t => t.Name == "misbehaving.notes"), "the accepted tool is listed");
        Assert.Contains("all well from notes", Text(await client.CallToolAsync("misbehaving.notes", new Dictionary<string, object?>())));
    }

    private sealed class Progress(List<ProgressNotificationValue> values) : IProgress<ProgressNotificationValue>
    {
        public void Report(ProgressNotificationValue value)
        {
            lock (values) values.Add(value);
        }
    }
}
