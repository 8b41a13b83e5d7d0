using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The gateway judges and forwards one spelling of every http request target: the corpus
/// (Corpus/http-cases.txt) sends each class of path trick as a raw request line, so no client library
/// normalises it first, and checks what the demo upstream actually received.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class HttpTargetCorpusTests(PortcullisStack stack)
{
    public sealed record Case(string Expect, string Target, string? Forwarded, string? Header, int Line)
    {
        public override string ToString() => $"{Line}: {Expect} {Target}{(Header is null ? "" : " | " + Header)}";
    }

    /// <summary>One test per line, by its parts (plain strings, so each case shows and runs on its own).</summary>
    public static TheoryData<int, string, string, string?, string?> Cases()
    {
        var data = new TheoryData<int, string, string, string?, string?>();
        foreach (var c in Load()) data.Add(c.Line, c.Expect, c.Target, c.Forwarded, c.Header);
        return data;
    }

    private static List<Case> Load()
    {
        var data = new List<Case>();
        var path = Path.Combine(PortcullisStack.RepositoryRoot, "tests", "Portcullis.EndToEndTests", "Corpus", "http-cases.txt");
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var space = line.IndexOf(' ');
            var (expect, rest) = (line[..space], line[(space + 1)..]);
            string? forwarded = null, header = null;
            if (rest.Split(" -> ") is [var t, var f]) (rest, forwarded) = (t, f);
            if (rest.Split(" | ") is [var t2, var h]) (rest, header) = (t2, h);
            data.Add(new Case(expect, rest, forwarded, header, number));
        }
        return data;
    }

    [Fact]
    public void The_corpus_has_every_class_and_at_least_80_cases()
    {
        var cases = Load();
        Assert.True(cases.Count >= 80, $"{cases.Count} cases");
        Assert.Equal(["bad", "deny", "hold", "pass", "strip"], cases.Select(c => c.Expect).Distinct().Order());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_target_is_judged_and_forwarded_in_one_spelling(int line, string expect, string target, string? forwarded, string? header)
    {
        var @case = new Case(expect, target, forwarded, header, line);
        var probe = Guid.NewGuid().ToString("N");
        var (status, body) = await SendRaw("GET",
            "/http/demo" + @case.Target + (@case.Target.Contains('?') ? "&" : "?") + "probe=" + probe, @case.Header);
        var seen = (await stack.UpstreamRequests()).Where(r => r.Query?.Contains(probe) == true).ToArray();

        switch (@case.Expect)
        {
            case "deny":
                Assert.True(status == 403, $"expected 403, got {status}: {body}");
                Assert.Contains("agents-no-admin", body);
                Assert.Empty(seen);
                break;
            case "hold":
                Assert.True(status == 202, $"expected 202 (approval pending), got {status}: {body}");
                Assert.Empty(seen);
                break;
            case "bad":
                // 400 from the gateway (with a problem saying why), or from Kestrel itself for bytes it never
                // accepts (%00); 404 where Kestrel's own dot-segment removal left no connection route at all.
                Assert.True(status is 400 or 404, $"expected 400 or 404, got {status}: {body}");
                Assert.Empty(seen);
                break;
            case "pass":
                Assert.True(status is 200 or 404, $"expected the upstream's answer, got {status}: {body}");
                var request = Assert.Single(seen);
                Assert.Equal(@case.Forwarded, request.RawTarget![..request.RawTarget!.IndexOf('?')]);
                break;
            case "strip":
                Assert.True(status == 200, $"expected 200, got {status}: {body}");
                var stripped = Assert.Single(seen);
                var name = @case.Header![..@case.Header!.IndexOf(':')];
                Assert.DoesNotContain(stripped.Headers, h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
                break;
            default:
                Assert.Fail($"unknown expectation '{@case.Expect}'");
                break;
        }
    }

    /// <summary>
    /// The same corpus through MCP's <c>http_request</c> in one agent session: the target's path as 'path', its query
    /// as 'query'; a request-rewriting header rides on the MCP request itself (a tool call has no headers of its own).
    /// Same decisions: a denial is a tool error naming the rule, a held call is held (an approval opens; the test's
    /// approver denies it, so the call answers at once) and nothing reaches the upstream but the canonical path.
    /// </summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_target_is_judged_the_same_through_mcp_http_request(int line, string expect, string target, string? forwarded, string? header)
    {
        var @case = new Case(expect, target, forwarded, header, line);
        // A tool call has no headers of its own: a header refused on the agent's request has no MCP form.
        if (@case.Header is not null && @case.Expect != "strip") return;
        var agent = await McpAgent.SharedSession(stack, "http-target-corpus");
        var probe = Guid.NewGuid().ToString("N");
        var queryStart = @case.Target.IndexOf('?');
        var arguments = new Dictionary<string, object?>
        {
            ["connection"] = "demo",
            ["method"] = "GET",
            ["path"] = queryStart < 0 ? @case.Target : @case.Target[..queryStart],
            ["query"] = (queryStart < 0 ? "" : @case.Target[(queryStart + 1)..] + "&") + "probe=" + probe,
        };
        agent.Headers.Clear();
        if (@case.Header is { } extra) agent.Headers[extra[..extra.IndexOf(':')]] = extra[(extra.IndexOf(':') + 1)..].Trim();
        try
        {
            var call = agent.CallAsync("http_request", arguments);
            string? heldBy = null;
            if (@case.Expect == "hold")
            {
                var held = await stack.Webhook.WaitForAsync(m => m.GetProperty("approval").GetProperty("action").GetString()!.Contains(probe),
                    TimeSpan.FromSeconds(15));
                heldBy = held.GetProperty("approval").GetProperty("rule").GetString();
                using var deny = await stack.Authorized(PortcullisStack.ApproverClient, HttpMethod.Post,
                    $"approvals/{held.GetProperty("approval").GetProperty("id").GetString()}/deny", new { comment = "corpus" });
                using var denied = await stack.Approval.SendAsync(deny);
                Assert.Equal(HttpStatusCode.OK, denied.StatusCode);
            }
            var result = await call;
            var text = McpAgent.Text(result);
            var seen = (await stack.UpstreamRequests()).Where(r => r.Query?.Contains(probe) == true).ToArray();
            switch (@case.Expect)
            {
                case "deny":
                    Assert.True(result.IsError == true && text.StartsWith("Denied by policy rule 'agents-no-admin'", StringComparison.Ordinal), text);
                    Assert.Empty(seen);
                    break;
                case "hold":
                    Assert.Equal("approve-bulk-export", heldBy);
                    Assert.True(result.IsError == true, text);
                    Assert.Empty(seen);
                    break;
                case "bad":
                    Assert.True(result.IsError == true, text);
                    Assert.Empty(seen);
                    break;
                case "pass":
                    Assert.True(text.StartsWith("HTTP 200", StringComparison.Ordinal) || text.StartsWith("HTTP 404", StringComparison.Ordinal), text);
                    var request = Assert.Single(seen);
                    Assert.Equal(@case.Forwarded, request.RawTarget![..request.RawTarget!.IndexOf('?')]);
                    break;
                case "strip":
                    Assert.True(result.IsError != true && text.StartsWith("HTTP 200", StringComparison.Ordinal), text);
                    var stripped = Assert.Single(seen);
                    var name = @case.Header![..@case.Header!.IndexOf(':')];
                    Assert.DoesNotContain(stripped.Headers, h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
                    break;
                default:
                    Assert.Fail($"unknown expectation '{@case.Expect}'");
                    break;
            }
        }
        finally
        {
            agent.Headers.Clear();
        }
    }

    [Theory]
    [InlineData("_method=DELETE")]
    [InlineData("name=x&_METHOD=put")]
    [InlineData("name=x&.method=put")]
    public async Task A_form_body_that_names_another_method_is_refused(string form)
    {
        var probe = Guid.NewGuid().ToString("N");
        using var request = await stack.AgentRequest(HttpMethod.Post, $"http/demo/customers/1?probe={probe}", "e2e-http-form");
        request.Content = new StringContent(form, Encoding.ASCII, "application/x-www-form-urlencoded");
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("_method", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    [Theory]
    [InlineData("application/json", """{"_method":"DELETE"}""")]
    [InlineData("application/merge-patch+json; charset=utf-8", """{"name":"x","_METHOD":"put"}""")]
    [InlineData("application/json", """{"name":"x",".method":"DELETE"}""")]
    public async Task A_json_body_that_names_another_method_is_refused(string contentType, string json)
    {
        var probe = Guid.NewGuid().ToString("N");
        using var request = await stack.AgentRequest(HttpMethod.Post, $"http/demo/customers/1?probe={probe}", "e2e-http-json");
        request.Content = new StringContent(json, Encoding.UTF8);
        request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("method", await response.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    [Fact]
    public async Task An_absolute_form_target_is_refused()
    {
        var probe = Guid.NewGuid().ToString("N");
        var (status, _) = await SendRaw("GET", $"http://127.0.0.1:{stack.Gateway.BaseAddress!.Port}/http/demo/customers/1?probe={probe}", null);
        Assert.Equal(400, status);
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    [Theory]
    [InlineData("TRACE")]
    [InlineData("TRACK")]
    [InlineData("trace")]
    [InlineData("DEBUG")]
    public async Task Methods_that_echo_the_request_are_never_forwarded(string method)
    {
        // An upstream answering TRACE would send back the request it received, the gateway's X-Api-Key included.
        var probe = Guid.NewGuid().ToString("N");
        var (status, body) = await SendRaw(method, $"/http/demo/customers/1?probe={probe}", null);
        Assert.True(status == 400, $"expected 400, got {status}: {body}");
        Assert.DoesNotContain(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
    }

    [Theory]
    [InlineData("/../../sql/warehouse")]
    [InlineData("/customers/../admin/config")]
    [InlineData("/customers/%2e%2e/admin/config")]
    [InlineData("/customers%2F..%2Fadmin/config")]
    [InlineData("/customers/1?x=1")]
    [InlineData("/customers/1#top")]
    [InlineData("/admin;a=b/config")]
    [InlineData("//127.0.0.1/admin")]
    public async Task Mcp_http_request_paths_are_made_canonical_or_refused(string path)
    {
        var before = (await stack.UpstreamRequests()).Count;
        var result = await McpCall(new Dictionary<string, object?> { ["connection"] = "demo", ["method"] = "GET", ["path"] = path });
        Assert.True(result.GetProperty("isError").GetBoolean(), result.ToString());
        Assert.Equal(before, (await stack.UpstreamRequests()).Count);
    }

    [Theory]
    [InlineData("/%61dmin/config")]
    [InlineData("/ADMIN/config/")]
    public async Task Mcp_http_request_judges_the_canonical_path(string path)
    {
        var result = await McpCall(new Dictionary<string, object?> { ["connection"] = "demo", ["method"] = "GET", ["path"] = path });
        Assert.True(result.GetProperty("isError").GetBoolean(), result.ToString());
        Assert.Contains("agents-no-admin", result.ToString());
    }

    private async Task<JsonElement> McpCall(Dictionary<string, object?> arguments)
    {
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        using var client = new HttpClient { BaseAddress = stack.Gateway.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        client.DefaultRequestHeaders.Accept.ParseAdd("application/json");
        client.DefaultRequestHeaders.Accept.ParseAdd("text/event-stream");
        using var init = await client.PostAsJsonAsync("mcp", new
        {
            jsonrpc = "2.0", id = 1, method = "initialize",
            @params = new { protocolVersion = "2025-06-18", capabilities = new { }, clientInfo = new { name = "e2e", version = "1" } },
        });
        init.EnsureSuccessStatusCode();
        if (init.Headers.TryGetValues("Mcp-Session-Id", out var ids)) client.DefaultRequestHeaders.Add("Mcp-Session-Id", ids.First());
        using (await client.PostAsJsonAsync("mcp", new { jsonrpc = "2.0", method = "notifications/initialized" })) { }
        using var call = await client.PostAsJsonAsync("mcp", new
        {
            jsonrpc = "2.0", id = 2, method = "tools/call", @params = new { name = "http_request", arguments },
        });
        var text = await call.Content.ReadAsStringAsync();
        // Streamable HTTP answers either JSON or one SSE event carrying it.
        var json = text.TrimStart().StartsWith('{')
            ? text
            : string.Concat(text.Split('\n').Where(l => l.StartsWith("data:", StringComparison.Ordinal)).Select(l => l[5..]));
        return JsonDocument.Parse(json).RootElement.GetProperty("result").Clone();
    }

    private async Task<(int Status, string Response)> SendRaw(string method, string target, string? header)
    {
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", stack.Gateway.BaseAddress!.Port);
        await using var stream = tcp.GetStream();
        var raw = $"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n" +
                  $"X-Session-Id: e2e-http-corpus\r\nPrefer: wait=0\r\n{(header is null ? "" : header + "\r\n")}Connection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(raw));
        var response = await new StreamReader(stream).ReadToEndAsync();
        return (int.Parse(response.Split(' ', 3)[1]), response);
    }
}
