using System.Net.Sockets;
using System.Text;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The http proxy attacked by class, as someone who knows it is YARP in front of a Kestrel upstream: request framing
/// and smuggling, hop-by-hop and protocol-switch headers, answers shaped to slip past masking (encodings, lying labels,
/// slices, trailers, echoes of the gateway's credential), and redirects. Every request is sent as raw bytes, so no
/// client library tidies it first; what the demo upstream received is checked by a probe in the query.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class HttpProxyHardeningTests(PortcullisStack stack)
{
    private const string Email = "ada.lovelace@example.com";
    private const string Address = "12 Analytical Way";

    // ---- 1. framing and smuggling -------------------------------------------------------------------------------

    /// <summary>
    /// Each payload hides a second request (to the denied /admin/config) where one reading of the framing puts a body
    /// and another the next request. Whatever Kestrel makes of it, the upstream never receives /admin/config: the
    /// gateway forwards bodies with its own framing, and a request Kestrel does split off is judged (and denied) on its own.
    /// </summary>
    [Theory]
    [InlineData("cl-te", "Content-Length: {LEN}\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-cl", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "{HEXLEN}\r\n{SMUGGLED}\r\n0\r\n\r\n")]
    [InlineData("te-chunked-identity", "Transfer-Encoding: chunked, identity\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-space-before-colon", "Transfer-Encoding : chunked\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-tab", "Transfer-Encoding:\tchunked\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-case", "TRANSFER-ENCODING: CHUNKED\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-xchunked", "Transfer-Encoding: xchunked\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("te-folded", "Transfer-Encoding:\r\n chunked\r\nContent-Length: {LEN}\r\n", "0\r\n\r\n{SMUGGLED}")]
    [InlineData("cl-twice", "Content-Length: 0\r\nContent-Length: {LEN}\r\n", "{SMUGGLED}")]
    [InlineData("cl-list", "Content-Length: 0, {LEN}\r\n", "{SMUGGLED}")]
    [InlineData("cl-plus", "Content-Length: +{LEN}\r\n", "{SMUGGLED}")]
    [InlineData("chunk-extension", "Transfer-Encoding: chunked\r\n", "0;ext=\"x\r\n\r\n{SMUGGLED}\"\r\n\r\n")]
    [InlineData("chunk-size-overflow", "Transfer-Encoding: chunked\r\n", "10000000000000000\r\n{SMUGGLED}\r\n0\r\n\r\n")]
    [InlineData("bare-lf", "Transfer-Encoding: chunked\nContent-Length: {LEN}\n", "0\n\n{SMUGGLED}")]
    public async Task A_smuggled_request_never_reaches_the_upstream_unjudged(string name, string headers, string body)
    {
        var probe = Guid.NewGuid().ToString("N");
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        var smuggled = $"GET /http/demo/admin/config?probe={probe} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n" +
                       "X-Session-Id: e2e-http-smuggle\r\n\r\n";
        body = body.Replace("{SMUGGLED}", smuggled).Replace("{HEXLEN}", smuggled.Length.ToString("x"));
        headers = headers.Replace("{LEN}", Encoding.ASCII.GetByteCount(body).ToString());
        var raw = $"POST /http/demo/customers/1?probe={probe}&case={name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n" +
                  $"X-Session-Id: e2e-http-smuggle\r\nContent-Type: application/octet-stream\r\n{headers}\r\n{body}";
        var response = await Exchange(raw);

        var seen = (await stack.UpstreamRequests()).Where(r => r.Query?.Contains(probe) == true).ToArray();
        Assert.DoesNotContain(seen, r => r.Path.Contains("admin", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain("feature_flags", response);
    }

    [Fact]
    public async Task Http_1_0_keep_alive_requests_are_each_judged()
    {
        var probe = Guid.NewGuid().ToString("N");
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        string Request(string path, string connection) =>
            $"GET /http/demo{path}?probe={probe} HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\nX-Session-Id: e2e-http-10\r\n" +
            $"Prefer: wait=0\r\nConnection: {connection}\r\n\r\n";
        var response = await Exchange(Request("/customers/1", "keep-alive") + Request("/admin/config", "close"));

        Assert.Contains("HTTP/1.1 403", response); // the second request, denied on its own
        var seen = (await stack.UpstreamRequests()).Where(r => r.Query?.Contains(probe) == true).ToArray();
        Assert.Equal("/customers/1", Assert.Single(seen).Path);
    }

    [Theory]
    [InlineData("GET", "Content-Length: 5\r\n", "hello")]
    [InlineData("GET", "Transfer-Encoding: chunked\r\n", "5\r\nhello\r\n0\r\n\r\n")]
    [InlineData("HEAD", "Content-Length: 5\r\n", "hello")]
    public async Task A_body_on_get_or_head_is_refused(string method, string headers, string body)
    {
        var probe = Guid.NewGuid().ToString("N");
        var response = await Agent($"{method} /http/demo/customers/1?probe={probe} HTTP/1.1\r\n{headers}Content-Type: application/json\r\n", body);
        AssertStatus(400, response);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    /// <summary>
    /// With Expect: 100-continue the agent holds its body back until told to send it. The decision does not wait for the
    /// body: a denied request is answered 403 while the body is still unsent (a JSON body is read first, for the method
    /// override check, and then denied), and the upstream never sees either.
    /// </summary>
    [Theory]
    [InlineData("application/octet-stream")]
    [InlineData("application/json")]
    public async Task Expect_100_continue_is_decided_before_anything_is_forwarded(string contentType)
    {
        var probe = Guid.NewGuid().ToString("N");
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", stack.Gateway.BaseAddress!.Port);
        await using var stream = tcp.GetStream();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var head = $"POST /http/demo/admin/config?probe={probe} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n" +
                   $"X-Session-Id: e2e-http-expect\r\nContent-Type: {contentType}\r\nContent-Length: 13\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), cancel.Token);
        var reader = new StreamReader(stream, Encoding.ASCII);
        var status = await reader.ReadLineAsync(cancel.Token);
        if (status!.StartsWith("HTTP/1.1 100", StringComparison.Ordinal))
        {
            Assert.Equal("application/json", contentType); // only a body the gateway must read first is asked for
            await reader.ReadLineAsync(cancel.Token); // the blank line after 100 Continue
            await stream.WriteAsync("{\"name\":\"x\"}\n"u8.ToArray(), cancel.Token);
            status = await reader.ReadLineAsync(cancel.Token);
        }
        Assert.StartsWith("HTTP/1.1 403", status);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    // ---- 2. hop-by-hop and header tricks ---------------------------------------------------------------------------

    [Theory]
    [InlineData("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")]
    [InlineData("Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n")]
    [InlineData("Upgrade: websocket\r\n")]
    [InlineData("Upgrade: h2c\r\n")]
    public async Task Protocol_switches_are_refused(string headers)
    {
        var probe = Guid.NewGuid().ToString("N");
        var response = await Agent($"GET /http/demo/customers/1?probe={probe} HTTP/1.1\r\n{headers}");
        AssertStatus(400, response);
        Assert.Contains("application/problem+json", response);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    /// <summary>
    /// A header named in Connection is one the agent asks the next hop to drop: the gateway's credential, the removal of
    /// the agent's own Authorization. The gateway refuses the request (400) when it sees such a name; when Kestrel has
    /// already lost it (a later "Connection: close" line replaces an earlier one), the request goes as any other: with
    /// the gateway's X-Api-Key (the upstream answers 200 only with it) and without the agent's Authorization.
    /// </summary>
    [Theory]
    [InlineData("Connection: X-Api-Key\r\n")]
    [InlineData("Connection: keep-alive, X-Api-Key\r\n")]
    [InlineData("Connection: keep-alive, Authorization\r\n")]
    [InlineData("Connection: X-Forwarded-For, X-Session-Id\r\n")]
    [InlineData("Connection: close, X-Api-Key\r\n")]
    public async Task Headers_named_in_connection_never_cost_the_gateways_credential_nor_let_the_agents_through(string headers)
    {
        var probe = Guid.NewGuid().ToString("N");
        var response = await Agent($"GET /http/demo/customers/1?probe={probe} HTTP/1.1\r\n{headers}");
        var seen = (await stack.UpstreamRequests()).Where(r => r.Query?.Contains(probe) == true).ToArray();
        if (response.StartsWith("HTTP/1.1 400", StringComparison.Ordinal))
        {
            Assert.Contains("Connection header", response);
            Assert.Empty(seen);
            return;
        }
        AssertStatus(200, response);
        var request = Assert.Single(seen);
        Assert.Contains(request.Headers, h => h.Equals("X-Api-Key", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(request.Headers, h => h.Equals("Authorization", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(request.Headers, h => h.Equals("X-Session-Id", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The agent's own X-Api-Key (once, twice, in another case) never reaches the upstream: the gateway's replaces it, so
    /// the upstream (which wants the gateway's key) answers 200. The agent's Host is not the upstream's either.
    /// </summary>
    [Theory]
    [InlineData("X-Api-Key: agent-made-up\r\n")]
    [InlineData("X-Api-Key: agent-made-up\r\nx-api-key: another\r\n")]
    [InlineData("X-API-KEY: agent-made-up\r\n")]
    public async Task The_agents_own_upstream_credential_is_replaced_by_the_gateways(string headers)
    {
        var probe = Guid.NewGuid().ToString("N");
        var response = await Agent($"GET /http/demo/customers/1?probe={probe} HTTP/1.1\r\n{headers}", host: "admin.internal");
        AssertStatus(200, response);
        var seen = Assert.Single(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
        Assert.Equal(stack.Upstream.BaseAddress!.Authority, seen.Host);
        Assert.Single(seen.Headers, h => h.Equals("X-Api-Key", StringComparison.OrdinalIgnoreCase));
    }

    // ---- 3. answers that would slip past masking ------------------------------------------------------------------

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    [InlineData("zstd")]
    [InlineData("gzip, br")]
    [InlineData("identity")]
    [InlineData("x-custom")]
    public async Task Encoded_answers_are_withheld(string coding)
    {
        var response = await Agent($"GET /http/demo/hostile/encoded?coding={Uri.EscapeDataString(coding)} HTTP/1.1\r\n");
        AssertStatus(502, response);
        Assert.DoesNotContain(Email, response);
        Assert.DoesNotContain("Content-Encoding:", Head(response), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>A JSON body under a text label (or none) is masked as JSON: the JSON path rule on billing.address applies.</summary>
    [Theory]
    [InlineData("text/plain")]
    [InlineData("text/html; charset=utf-8")]
    [InlineData("text/event-stream")]
    [InlineData("none")]
    public async Task Json_under_a_text_label_is_masked_as_json(string type)
    {
        var response = await Agent($"GET /http/demo/hostile/typed?type={Uri.EscapeDataString(type)} HTTP/1.1\r\n");
        AssertStatus(200, response);
        Assert.DoesNotContain(Email, response);
        Assert.DoesNotContain(Address, response);
    }

    [Theory]
    [InlineData("application/octet-stream")]
    [InlineData("image/png")]
    [InlineData("multipart/mixed; boundary=x")]
    [InlineData("application/x-gzip")]
    public async Task Labels_masking_cannot_read_are_withheld(string type)
    {
        var response = await Agent($"GET /http/demo/hostile/typed?type={Uri.EscapeDataString(type)} HTTP/1.1\r\n");
        AssertStatus(502, response);
        Assert.DoesNotContain(Email, response);
    }

    [Fact]
    public async Task A_partial_answer_is_withheld()
    {
        var response = await Agent("GET /http/demo/hostile/partial HTTP/1.1\r\n");
        AssertStatus(502, response);
        Assert.DoesNotContain("Content-Range:", Head(response), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("ada.lo", response);
    }

    [Fact]
    public async Task Trailers_never_reach_the_agent()
    {
        var response = await Agent("GET /http/demo/hostile/trailer HTTP/1.1\r\nTE: trailers\r\n");
        AssertStatus(200, response);
        Assert.Contains("\"ok\":true", response);
        Assert.DoesNotContain("ghp_16C7e42F292c6912E7710c838347Ae178B4a", response);
    }

    [Theory]
    [InlineData("")]
    [InlineData("&encode=base64")]
    public async Task An_answer_that_echoes_the_gateways_credential_is_withheld(string encode)
    {
        var response = await Agent($"GET /http/demo/hostile/echo?x=1{encode} HTTP/1.1\r\n");
        AssertStatus(502, response);
        Assert.DoesNotContain(stack.UpstreamSecrets["DEMO_API_KEY"], response);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("X-Api-Key: " + stack.UpstreamSecrets["DEMO_API_KEY"]))[4..20], response);
    }

    // ---- 4. redirects --------------------------------------------------------------------------------------------

    /// <summary>
    /// The gateway never follows a redirect (the upstream sees no second request); a Location or Content-Location inside
    /// the connection comes back as a path through it, without any user:password; anything else is dropped.
    /// </summary>
    [Theory]
    [InlineData("/customers/2?probe={P2}", "/http/demo/customers/2?probe={P2}")]
    [InlineData("http://{UPSTREAM}/customers/2?probe={P2}", "/http/demo/customers/2?probe={P2}")]
    [InlineData("http://svc:hunter2hunter2@{UPSTREAM}/customers/2?probe={P2}", "/http/demo/customers/2?probe={P2}")]
    [InlineData("http://evil.example/customers/2?probe={P2}", null)]
    [InlineData("//evil.example/customers/2?probe={P2}", null)]
    [InlineData("https://{UPSTREAM}/customers/2?probe={P2}", null)]
    [InlineData("file:///etc/passwd?probe={P2}", null)]
    [InlineData("gopher://{UPSTREAM}/_GET%20/admin/config?probe={P2}", null)]
    public async Task Redirects_are_not_followed_and_lead_back_through_the_connection_or_nowhere(string location, string? expected)
    {
        var p2 = "p" + Guid.NewGuid().ToString("N")[..10]; // short: a long hex string is a token to the header detectors
        location = location.Replace("{P2}", p2).Replace("{UPSTREAM}", stack.Upstream.BaseAddress!.Authority);
        var response = await Agent($"GET /http/demo/hostile/redirect?to={Uri.EscapeDataString(location)} HTTP/1.1\r\n");
        AssertStatus(302, response);
        var headers = response[..response.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n");
        var locations = headers.Where(h => h.StartsWith("Location:", StringComparison.OrdinalIgnoreCase)).ToArray();
        var contentLocations = headers.Where(h => h.StartsWith("Content-Location:", StringComparison.OrdinalIgnoreCase)).ToArray();
        if (expected is null)
        {
            Assert.Empty(locations);
            Assert.Empty(contentLocations);
        }
        else
        {
            Assert.Equal("Location: " + expected.Replace("{P2}", p2), Assert.Single(locations));
            Assert.Equal("Content-Location: " + expected.Replace("{P2}", p2), Assert.Single(contentLocations));
        }
        Assert.DoesNotContain("hunter2", response);
        // The redirect's own request names the probe in its 'to'; no other request may.
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(p2) == true && !r.Path.StartsWith("/hostile/", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("http://evil.example/", null)]
    [InlineData("file:///etc/passwd", null)]
    [InlineData("/customers/2", "Refresh: 0; url=/http/demo/customers/2")]
    public async Task A_refresh_leads_back_through_the_connection_or_is_dropped(string to, string? expected)
    {
        var response = await Agent($"GET /http/demo/hostile/refresh?to={Uri.EscapeDataString(to)} HTTP/1.1\r\n");
        AssertStatus(200, response);
        var refresh = response[..response.IndexOf("\r\n\r\n", StringComparison.Ordinal)].Split("\r\n")
            .Where(h => h.StartsWith("Refresh:", StringComparison.OrdinalIgnoreCase)).ToArray();
        if (expected is null) Assert.Empty(refresh);
        else Assert.Equal(expected, Assert.Single(refresh));
    }

    // ---- 5. paths --------------------------------------------------------------------------------------------------

    [Theory]
    [InlineData(9000, 0)]
    [InlineData(0, 9000)]
    [InlineData(70000, 0)]
    public async Task Very_long_paths_and_queries_are_refused_before_the_upstream(int pathLength, int queryLength)
    {
        var probe = Guid.NewGuid().ToString("N");
        var response = await Agent($"GET /http/demo/customers/{new string('a', pathLength)}?probe={probe}&q={new string('b', queryLength)} HTTP/1.1\r\n");
        var status = int.Parse(response.Split(' ', 3)[1]);
        Assert.True(status is 400 or 414 or 431, response.Length > 300 ? response[..300] : response);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    private static string Head(string response) => response[..Math.Max(0, response.IndexOf("\r\n\r\n", StringComparison.Ordinal))];

    private static void AssertStatus(int expected, string response) =>
        Assert.True(response.StartsWith($"HTTP/1.1 {expected}", StringComparison.Ordinal),
            $"expected {expected}, got: {(response.Length > 1500 ? response[..1500] : response)}");

    /// <summary>An agent's request: the head (request line and any headers), the gateway's token, a session, then the body.</summary>
    private async Task<string> Agent(string head, string body = "", string host = "127.0.0.1")
    {
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        return await Exchange($"{head}Host: {host}\r\nAuthorization: Bearer {token}\r\nX-Session-Id: e2e-http-hardening\r\n" +
                              $"Prefer: wait=0\r\nConnection: close\r\n\r\n{body}");
    }

    /// <summary>Sends raw bytes and reads until the gateway closes (or a minute passes, when it waits for bytes that never come).</summary>
    private async Task<string> Exchange(string raw)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", stack.Gateway.BaseAddress!.Port);
        await using var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(raw));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = new MemoryStream();
        try
        {
            await stream.CopyToAsync(output, cancel.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // a reset or a wait for more bytes: what arrived is the answer
        }
        return Encoding.ASCII.GetString(output.ToArray());
    }
}
