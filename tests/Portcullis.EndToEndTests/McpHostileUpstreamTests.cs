using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// An upstream MCP server written by an attacker (tests/mcp-servers/hostile.mjs, connection <c>hostile</c>, allowed
/// tools and the resources under file:///srv/shared only): lists that page on forever, a result larger than the gateway
/// returns, customer data in structured content beside a harmless text, requests back to the client (sampling,
/// elicitation, roots), and resource URIs that try to leave the allowed folder. The agent is the official C# client.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class McpHostileUpstreamTests(PortcullisStack stack)
{
    private Task<McpClient> Connect() => McpAgent.ClientAsync(stack, PortcullisStack.McpAgentClient);

    private static string Text(CallToolResult result) => McpAgent.Text(result);

    private static string Text(ReadResourceResult result) =>
        string.Join("\n", result.Contents.OfType<TextResourceContents>().Select(c => c.Text));

    private static string[] Outcomes(JsonElement timeline) => [.. timeline.GetProperty("events").EnumerateArray()
        .Where(e => e.GetProperty("type").GetString() == "RequestCompleted")
        .Select(e => e.GetProperty("data").GetProperty("outcome").GetString()!)];

    [Fact]
    public async Task Lists_that_page_on_forever_are_bounded_and_answered_instead_of_timing_out()
    {
        await using var client = await Connect();
        var tools = (await client.ListToolsAsync()).Select(t => t.Name).Where(n => n.StartsWith("hostile.", StringComparison.Ordinal)).ToArray();
        // Listed (not left out for its listing running into the connection's timeout), and no more than the cap.
        Assert.Contains("hostile.structured", tools);
        Assert.Contains("hostile.tool-1-0", tools);
        Assert.InRange(tools.Length, 10, 500);

        var resources = (await client.ListResourcesAsync()).Select(r => r.Uri).Where(u => u.StartsWith("hostile+", StringComparison.Ordinal)).ToArray();
        Assert.Contains("hostile+file:///srv/shared/r-0-0.txt", resources);
        Assert.InRange(resources.Length, 10, 500);
    }

    [Fact]
    public async Task A_result_larger_than_the_gateway_returns_is_withheld_with_a_failed_outcome()
    {
        await using var client = await Connect();
        var huge = await client.CallToolAsync("hostile.huge", new Dictionary<string, object?> { ["megabytes"] = 9 });
        Assert.True(huge.IsError);
        Assert.Contains("MCP result too large", Text(huge));
        Assert.Contains("it is withheld", Text(huge));
        Assert.DoesNotContain("xxxxxxxxxx", Text(huge));
        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.Equal("upstream_failed", Assert.Single(Outcomes(timeline)));

        var small = await client.CallToolAsync("hostile.huge", new Dictionary<string, object?> { ["megabytes"] = 0.001 });
        Assert.False(small.IsError == true, Text(small));
    }

    [Fact]
    public async Task An_http_upstream_that_answers_without_end_is_cut_off_and_the_next_call_works()
    {
        await using var client = await Connect();
        // An event stream without a Content-Length: the gateway stops reading at twice Gateway:MaxResponseBytes.
        var huge = await client.CallToolAsync("hostile-http.huge", new Dictionary<string, object?> { ["megabytes"] = 40 });
        Assert.True(huge.IsError);
        Assert.Contains("MCP server failed", Text(huge));
        Assert.DoesNotContain("xxxxxxxxxx", Text(huge));
        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.Equal("upstream_failed", Assert.Single(Outcomes(timeline)));

        var small = await client.CallToolAsync("hostile-http.huge", new Dictionary<string, object?> { ["megabytes"] = 0.001 });
        Assert.False(small.IsError == true, Text(small));
    }

    [Fact]
    public async Task An_http_upstream_gets_the_secret_header_its_connection_names_from_the_gateway()
    {
        await using var client = await Connect();
        var hash = await client.CallToolAsync("hostile-http.header-hash", new Dictionary<string, object?>());
        Assert.False(hash.IsError == true, Text(hash));
        var key = stack.UpstreamSecrets["DEMO_API_KEY"];
        Assert.Equal("sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key))),
            Text(hash));
    }

    [Fact]
    public async Task Customer_data_in_structured_content_is_masked_like_the_text_beside_it()
    {
        await using var client = await Connect();
        var result = await client.CallToolAsync("hostile.structured", new Dictionary<string, object?>());
        Assert.False(result.IsError == true, Text(result));
        Assert.Contains("structured content", Text(result));
        var structured = Assert.IsType<JsonElement>(result.StructuredContent);
        Assert.Equal("Ada Lovelace", structured.GetProperty("customer").GetProperty("name").GetString());
        Assert.Equal("[EMAIL]", structured.GetProperty("customer").GetProperty("email").GetString());
        Assert.Equal("[EMAIL]", structured.GetProperty("contacts")[0].GetString());
        Assert.Equal("[EMAIL]", structured.GetProperty("contacts")[1].GetProperty("email").GetString());
        // Nothing of the result reaches the agent unmasked, its _meta included.
        Assert.DoesNotContain("@example.com", JsonSerializer.Serialize(result, McpJsonUtilities.DefaultOptions));

        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.DoesNotContain("@example.com", timeline.ToString());
    }

    [Fact]
    public async Task An_upstream_cannot_ask_the_agent_for_sampling_elicitation_or_roots()
    {
        // An agent that would answer all three if it were asked (deprecated in the 2026-07-28 revision, but agents on
        // older revisions still answer them, and an upstream may still ask).
#pragma warning disable MCP9005
        var asked = new List<string>();
        var options = new McpClientOptions
        {
            Handlers = new McpClientHandlers
            {
                SamplingHandler = (_, _, _) =>
                {
                    lock (asked) asked.Add("sampling");
                    return ValueTask.FromResult(new CreateMessageResult
                        { Model = "agent", Role = Role.Assistant, Content = [new TextContentBlock { Text = "sure" }] });
                },
                ElicitationHandler = (_, _) =>
                {
                    lock (asked) asked.Add("elicitation");
                    return ValueTask.FromResult(new ElicitResult { Action = "accept" });
                },
                RootsHandler = (_, _) =>
                {
                    lock (asked) asked.Add("roots");
                    return ValueTask.FromResult(new ListRootsResult { Roots = [new Root { Uri = "file:///home/agent" }] });
                },
            },
        };
#pragma warning restore MCP9005
        await using var client = await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(stack.Gateway.BaseAddress!, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string>
                { ["Authorization"] = $"Bearer {await stack.TokenFor(PortcullisStack.McpAgentClient)}" },
        }), options);

        var result = await client.CallToolAsync("hostile.ask-client", new Dictionary<string, object?>());
        Assert.False(result.IsError == true, Text(result));
        var text = Text(result);
        // The gateway, the upstream's client, declares none of these and answers each "method not found".
        foreach (var method in new[] { "sampling/createMessage", "elicitation/create", "roots/list" })
            Assert.Contains($"{method} refused: -32601", text);
        Assert.DoesNotContain("answered", text);
        lock (asked) Assert.Empty(asked);
    }

    [Theory]
    [InlineData("hostile+file:///etc/passwd", "Denied by policy")]
    [InlineData("hostile+file:///srv/shared.evil/secret.txt", "Denied by policy")]
    [InlineData("hostile+file:///srv/sharedsecret.txt", "Denied by policy")]
    [InlineData("hostile+file://localhost/etc/passwd", "Denied by policy")]
    [InlineData("hostile+file:///srv/shared/../../etc/passwd", "The resource URI is refused")]
    [InlineData("hostile+file:///srv/shared/%2e%2e/%2e%2e/etc/passwd", "The resource URI is refused")]
    [InlineData("hostile+file:///srv/shared/..%2f..%2fetc/passwd", "The resource URI is refused")]
    [InlineData("hostile+file:///srv/shared/%252e%252e/etc/passwd", "The resource URI is refused")]
    [InlineData("hostile+file:///srv/shared/..\\..\\etc\\passwd", "The resource URI is refused")]
    [InlineData("hostile+file://attacker.example/srv/shared/x", "The resource URI is refused")]
    public async Task A_resource_outside_the_allowed_folder_is_refused_before_the_upstream_sees_it(string uri, string expected)
    {
        await using var client = await Connect();
        var refused = await Assert.ThrowsAsync<McpProtocolException>(() => client.ReadResourceAsync(uri).AsTask());
        Assert.Contains(expected, refused.Message);
        Assert.DoesNotContain("you asked for", refused.Message);

        var inside = await client.ReadResourceAsync("hostile+file:///srv/shared/notes.txt");
        Assert.Equal("you asked for file:///srv/shared/notes.txt", Text(inside));
    }

    /// <summary>What hostile.mjs's rows tool answers for demo.customers.name (masked by customer-names on this connection).</summary>
    private const string RawName = "ZEBULON-RAW-7731";

    [Theory]
    [InlineData("structured")]
    [InlineData("resource")]
    [InlineData("blob")]
    [InlineData("link")]
    [InlineData("block-meta")]
    [InlineData("csv")]
    [InlineData("markdown")]
    [InlineData("second-text")]
    [InlineData("nested")]
    public async Task Sql_rows_outside_the_text_the_gateway_masks_by_column_are_refused_never_passed_on_raw(string shape)
    {
        await using var client = await Connect();
        var result = await client.CallToolAsync("hostile.rows",
            new Dictionary<string, object?> { ["sql"] = "SELECT id, name FROM demo.customers", ["shape"] = shape });
        var seen = JsonSerializer.Serialize(result, McpJsonUtilities.DefaultOptions);
        Assert.DoesNotContain(RawName, seen);
        Assert.True(result.IsError, seen);
        Assert.Contains("could not be masked, so it is withheld", Text(result));

        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.DoesNotContain(RawName, timeline.ToString());
    }

    [Fact]
    public async Task Sql_rows_in_a_results_meta_are_not_passed_on()
    {
        await using var client = await Connect();
        var result = await client.CallToolAsync("hostile.rows",
            new Dictionary<string, object?> { ["sql"] = "SELECT id, name FROM demo.customers", ["shape"] = "meta" });
        // The gateway never passes a result's _meta on (and masking refuses one beside masked columns).
        var seen = JsonSerializer.Serialize(result, McpJsonUtilities.DefaultOptions);
        Assert.DoesNotContain(RawName, seen);
        Assert.Null(result.Meta);
        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.DoesNotContain(RawName, timeline.ToString());
    }

    [Fact]
    public async Task Sql_rows_in_the_text_are_masked_by_column_rule()
    {
        await using var client = await Connect();
        var result = await client.CallToolAsync("hostile.rows",
            new Dictionary<string, object?> { ["sql"] = "SELECT id, name FROM demo.customers", ["shape"] = "text" });
        Assert.False(result.IsError == true, Text(result));
        var row = JsonDocument.Parse(Text(result)).RootElement[0];
        Assert.Matches(@"^\*+731$", row.GetProperty("name").GetString());
        Assert.DoesNotContain(RawName, JsonSerializer.Serialize(result, McpJsonUtilities.DefaultOptions));
    }

    [Fact]
    public async Task Sql_rows_from_a_connection_without_a_catalogue_to_vet_its_relations_are_refused_before_the_call()
    {
        // hostile-http masks demo.customers.name too, but names no catalogue: views over masked columns cannot be ruled out.
        await using var client = await Connect();
        var result = await client.CallToolAsync("hostile-http.rows",
            new Dictionary<string, object?> { ["sql"] = "SELECT id, name FROM demo.customers", ["shape"] = "text" });
        Assert.True(result.IsError, Text(result));
        Assert.Contains("names no postgres connection as its catalogue", Text(result));
        Assert.DoesNotContain(RawName, JsonSerializer.Serialize(result, McpJsonUtilities.DefaultOptions));
    }

    [Theory]
    [InlineData(300, true)]
    [InlineData(300, false)]
    public async Task A_stdio_message_past_the_cap_is_cut_off_with_a_tool_error_and_the_server_starts_again(int megabytes, bool end)
    {
        await using var client = await Connect();
        // One line of 300 MB (ended, or never ended): the gateway stops at Gateway:McpMaxMessageBytes (16 MB here) and
        // ends the server, instead of reading it into memory.
        var cut = await client.CallToolAsync("hostile.long-line", new Dictionary<string, object?> { ["megabytes"] = megabytes, ["end"] = end });
        Assert.True(cut.IsError, Text(cut));
        Assert.Contains("MCP server failed", Text(cut));
        Assert.Contains("sent a message longer than", Text(cut));
        Assert.DoesNotContain("xxxxxxxxxx", Text(cut));
        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 0);
        Assert.Equal("upstream_failed", Assert.Single(Outcomes(timeline)));

        var small = await client.CallToolAsync("hostile.huge", new Dictionary<string, object?> { ["megabytes"] = 0.001 });
        Assert.False(small.IsError == true, Text(small));
    }

    [Theory]
    [InlineData("hostile")]
    [InlineData("hostile-http")]
    public async Task An_upstream_that_floods_notifications_is_cut_off_and_a_few_pass(string connection)
    {
        await using var client = await Connect();
        var few = await client.CallToolAsync($"{connection}.flood", new Dictionary<string, object?> { ["count"] = 50 });
        Assert.False(few.IsError == true, Text(few));
        Assert.Equal("flooded 50", Text(few));

        var flood = await client.CallToolAsync($"{connection}.flood", new Dictionary<string, object?> { ["count"] = 20_000 });
        Assert.True(flood.IsError, Text(flood));
        Assert.Contains("MCP server failed", Text(flood));
        Assert.Contains("notifications (or requests of its own) without an answer", Text(flood));
        var timeline = await stack.TimelineAsync(client.SessionId!, t => Outcomes(t).Length > 1);
        Assert.Equal(["completed", "upstream_failed"], Outcomes(timeline));

        var after = await client.CallToolAsync($"{connection}.flood", new Dictionary<string, object?> { ["count"] = 2 });
        Assert.False(after.IsError == true, Text(after));
    }
}
