using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// What an attacker who controls an agent (or holds any token) sends to every API of every service: bodies that
/// are not JSON, are the wrong JSON, are not UTF-8, carry NULs, nest 10,000 deep, are empty or too large;
/// query strings that do not parse; numbers and durations past every range; form floods. Each gets a 4xx
/// problem document that says what was wrong, and nothing of the server: no stack trace, no exception type, no
/// echo of the caller's token. Also: tokens sent where they do not belong never reach a log, and a token naming
/// a key the issuer does not publish is refused.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class HostileInputTests(PortcullisStack stack)
{
    private const string Json = "application/json";
    private static readonly string Approval = $"approvals/{Guid.NewGuid()}";

    private sealed record Attack(string Name, Func<PortcullisStack, HttpClient> Service, HttpMethod Method, string Path,
        string? Client, byte[]? Body = null, string? ContentType = Json, int[]? Expected = null, bool RefusedByKestrel = false);

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static byte[] Bytes(params object[] parts) =>
        [.. parts.SelectMany(p => p switch { string s => Encoding.UTF8.GetBytes(s), byte[] b => b, _ => throw new ArgumentException() })];

    private static string Deep(int depth, string open = "[", string close = "]") =>
        string.Concat(Enumerable.Repeat(open, depth)) + string.Concat(Enumerable.Repeat(close, depth));

    /// <summary>Bodies no JSON endpoint can read, whatever it expects.</summary>
    private static IEnumerable<(string Name, byte[] Body, string? ContentType)> UnreadableBodies(string field) =>
    [
        ("truncated JSON", Utf8($"{{\"{field}\":"), Json),
        ("a lone brace", Utf8("{"), Json),
        ("not JSON at all", Utf8("hello"), Json),
        ("trailing garbage", Utf8($"{{\"{field}\":\"x\"}} trailing"), Json),
        ("a comment", Utf8($"/* hi */ {{\"{field}\":\"x\"}}"), Json),
        ("single quotes", Utf8($"{{'{field}':'x'}}"), Json),
        ("invalid UTF-8", Bytes($"{{\"{field}\":\"", new byte[] { 0xff, 0xfe, 0xfd }, "\"}"), Json),
        ("an overlong UTF-8 slash", Bytes($"{{\"{field}\":\"", new byte[] { 0xc0, 0xaf }, "\"}"), Json),
        ("an encoded surrogate", Bytes($"{{\"{field}\":\"", new byte[] { 0xed, 0xa0, 0x80 }, "\"}"), Json),
        ("a raw NUL", Bytes($"{{\"{field}\":\"x", new byte[] { 0 }, "\"}"), Json),
        ("10,000-deep arrays", Utf8(Deep(10_000)), Json),
        ("10,000-deep objects", Utf8(string.Concat(Enumerable.Repeat("{\"a\":", 10_000)) + "1" + new string('}', 10_000)), Json),
        ($"10,000-deep {field}", Utf8($"{{\"{field}\":{Deep(10_000)}}}"), Json),
        ("an empty body", [], Json),
        ("a JSON array", Utf8("[]"), Json),
        ("a JSON string", Utf8("\"SELECT 1\""), Json),
        ("a JSON number", Utf8("12"), Json),
        ($"{field} as a number", Utf8($"{{\"{field}\": 5}}"), Json),
        ($"{field} as an array", Utf8($"{{\"{field}\": [\"x\"]}}"), Json),
        ($"{field} as an object", Utf8($"{{\"{field}\": {{\"x\": 1}}}}"), Json),
        ("text/plain", Utf8($"{{\"{field}\":\"x\"}}"), "text/plain"),
        ("no content type", Utf8($"{{\"{field}\":\"x\"}}"), null),
        ("a form", Utf8($"{field}=x"), "application/x-www-form-urlencoded"),
        ("an unknown charset", Utf8($"{{\"{field}\":\"x\"}}"), "application/json; charset=klingon"),
        ("UTF-16 declared, UTF-8 sent", Utf8($"{{\"{field}\":\"x\"}}"), "application/json; charset=utf-16"),
    ];

    private static IEnumerable<Attack> Attacks()
    {
        Func<PortcullisStack, HttpClient> gateway = s => s.Gateway, policy = s => s.Policy, approval = s => s.Approval,
            audit = s => s.Audit;
        const string agent = PortcullisStack.AgentClient, admin = PortcullisStack.AdminClient,
            approver = PortcullisStack.ApproverClient, auditor = PortcullisStack.AuditorClient;

        var endpoints = new (string Name, Func<PortcullisStack, HttpClient> Service, HttpMethod Method, string Path, string Client, string Field)[]
        {
            ("gateway /sql", gateway, HttpMethod.Post, "sql/warehouse", agent, "sql"),
            ("gateway /exec", gateway, HttpMethod.Post, "exec/ops", agent, "command"),
            ("policy PUT /policy", policy, HttpMethod.Put, "policy", admin, "yaml"),
            ("policy /policy/evaluate", policy, HttpMethod.Post, "policy/evaluate", admin, "action"),
            ("policy /policy/simulate", policy, HttpMethod.Post, "policy/simulate", PortcullisStack.AdminAuditorClient, "yaml"),
            ("approval approve", approval, HttpMethod.Post, Approval + "/approve", approver, "window"),
            ("approval deny", approval, HttpMethod.Post, Approval + "/deny", approver, "comment"),
            ("approval revoke", approval, HttpMethod.Post, Approval + "/revoke", approver, "comment"),
        };
        foreach (var endpoint in endpoints)
            foreach (var (name, body, type) in UnreadableBodies(endpoint.Field))
            {
                yield return new Attack($"{endpoint.Name}: {name}", endpoint.Service, endpoint.Method, endpoint.Path, endpoint.Client, body, type);
            }

        // Values past every range.
        yield return new Attack("/sql: parameters [1e400]", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("""{"sql":"SELECT $1","parameters":[1e400]}"""));
        yield return new Attack("/sql: parameters [-1e400]", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("""{"sql":"SELECT $1","parameters":[-1e400]}"""));
        yield return new Attack("/sql: parameters [1e29]", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("""{"sql":"SELECT $1","parameters":[100000000000000000000000000000]}"""));
        yield return new Attack("/sql: parameters as a string", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("""{"sql":"SELECT $1","parameters":"x"}"""));
        yield return new Attack("/sql: 70,000 parameters", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("""{"sql":"SELECT 1","parameters":[""" + string.Join(',', Enumerable.Repeat("1", 70_000)) + "]}"));
        yield return new Attack("/sql: a lone surrogate in a parameter", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("{\"sql\":\"SELECT $1\",\"parameters\":[\"a\\ud800b\"]}"));
        yield return new Attack("/sql: a lone surrogate in the statement", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("{\"sql\":\"SELECT 'a\\udc00'\"}"));
        yield return new Attack("/exec: a lone surrogate in the command", gateway, HttpMethod.Post, "exec/ops", agent,
            Utf8("{\"command\":\"echo \\ud800\"}"));
        yield return new Attack("evaluate: a lone surrogate in the subject", policy, HttpMethod.Post, "policy/evaluate", admin,
            Utf8("{\"principal\":{\"subject\":\"\\ud800\"},\"action\":{\"protocol\":\"sql\",\"connection\":\"warehouse\",\"sql\":\"SELECT 1\"}}"));
        yield return new Attack("/sql: null", gateway, HttpMethod.Post, "sql/warehouse", agent, Utf8("null"));
        yield return new Attack("/exec: null", gateway, HttpMethod.Post, "exec/ops", agent, Utf8("null"));
        yield return new Attack("/sql: 20 MB body", gateway, HttpMethod.Post, "sql/warehouse", agent,
            Utf8("{\"sql\":\"" + new string('a', 20 * 1024 * 1024) + "\"}"), Expected: [413]);
        foreach (var window in new[] { "1e300h", "NaNm", "Infinityh", "-5m", "0s", "99999999999999999999h", "1e3m", "5 years", "5", "m", "0x10s", "\u0000m" })
            yield return new Attack($"approve with window '{window}'", approval, HttpMethod.Post, Approval + "/approve", approver,
                Utf8(JsonSerializer.Serialize(new { window, comment = "ok" })));
        yield return new Attack("PUT /policy: expectedVersion 1e400", policy, HttpMethod.Put, "policy", admin,
            Utf8("""{"yaml":"default_effect: deny","expectedVersion":1e400}"""));
        yield return new Attack("PUT /policy: expectedVersion past int", policy, HttpMethod.Put, "policy", admin,
            Utf8("""{"yaml":"default_effect: deny","expectedVersion":99999999999}"""));
        yield return new Attack("PUT /policy: expectedVersion as a string", policy, HttpMethod.Put, "policy", admin,
            Utf8("""{"yaml":"default_effect: deny","expectedVersion":"one"}"""));
        yield return new Attack("PUT /policy: YAML that is not a policy", policy, HttpMethod.Put, "policy", admin,
            Utf8("""{"yaml":"- [unbalanced","expectedVersion":1}"""), Expected: [400, 409]);
        yield return new Attack("PUT /policy: a statement timeout past PostgreSQL's", policy, HttpMethod.Put, "policy", admin,
            Utf8(JsonSerializer.Serialize(new
            {
                yaml = "default_effect: deny\nrules:\n  - id: slow\n    effect: allow\n    obligations: { statement_timeout: 9000h }\n    match: { connections: [warehouse] }\n",
                expectedVersion = 1,
            })), Expected: [400, 409]);
        yield return new Attack("evaluate: protocol as a number", policy, HttpMethod.Post, "policy/evaluate", admin,
            Utf8("""{"principal":{"subject":"a","groups":["agents"]},"action":{"protocol":5,"connection":"warehouse"}}"""));
        yield return new Attack("evaluate: groups as a string", policy, HttpMethod.Post, "policy/evaluate", admin,
            Utf8("""{"principal":{"subject":"a","groups":"agents"},"action":{"protocol":"sql","connection":"warehouse"}}"""));
        yield return new Attack("evaluate: null", policy, HttpMethod.Post, "policy/evaluate", admin, Utf8("null"));

        // Query strings and route values.
        foreach (var query in new[] { "limit=abc", "limit=0", "limit=99999999999999999999", "from=notadate", "to=2026-13-45",
                     "from=9999-99-99T99:99:99Z", "limit=1&limit=2", "subject=%00", "outcome=%00x" })
            yield return new Attack($"audit search ?{query}", audit, HttpMethod.Get, "sessions?" + query, auditor, ContentType: null);
        foreach (var query in new[] { "", "from=2026-01-01T00:00:00Z", "to=2026-01-01T00:00:00Z", "from=x&to=y", "from=%00&to=1" })
            yield return new Attack($"audit export ?{query}", audit, HttpMethod.Get, "export?" + query, auditor, ContentType: null);
        foreach (var query in new[] { "from=2026-13-45", "to=yesterday", "from=2026-01-01T00:00:00Z" })
            yield return new Attack($"audit statistics ?{query}", audit, HttpMethod.Get, "statistics?" + query, auditor, ContentType: null);
        foreach (var path in new[] { "sessions/%00", "sessions/%00/verify", "sessions/%00/replay", "sessions/%00/timeline", "identities/%00" })
            // Kestrel refuses a NUL in the path itself, before any service code, with a bare 400.
            yield return new Attack($"audit {path}", audit, HttpMethod.Get, path, auditor, ContentType: null, RefusedByKestrel: true);
        yield return new Attack("approvals ?state=%00", approval, HttpMethod.Get, "approvals?state=%00", approver, ContentType: null);
        yield return new Attack("approvals/not-a-guid", approval, HttpMethod.Get, "approvals/not-a-guid", approver, ContentType: null,
            Expected: [404]);
        yield return new Attack("gateway approvals/not-a-guid", gateway, HttpMethod.Get, "approvals/not-a-guid", agent, ContentType: null,
            Expected: [404]);
        yield return new Attack("gateway /sql with GET", gateway, HttpMethod.Get, "sql/warehouse", agent, ContentType: null,
            Expected: [405]);
        yield return new Attack("gateway /http with a NUL in the path", gateway, HttpMethod.Get, "http/demo/customers%00/1", agent,
            ContentType: null, RefusedByKestrel: true);
        yield return new Attack("policy for an agent", policy, HttpMethod.Put, "policy", agent,
            Utf8("""{"yaml":"default_effect: allow","expectedVersion":1}"""), Expected: [403]);

        // MCP: a 50 MB body, and JSON-RPC that is not JSON.
        yield return new Attack("/mcp: 50 MB body", gateway, HttpMethod.Post, "mcp", agent,
            Utf8("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"x\":\"" + new string('a', 50 * 1024 * 1024) + "\"}}"),
            Expected: [413]);
    }

    [Fact]
    public async Task Every_hostile_input_gets_a_4xx_problem_that_says_what_was_wrong_and_nothing_of_the_server()
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var attack in Attacks())
        {
            count++;
            var token = attack.Client is null ? null : await stack.TokenFor(attack.Client);
            using var request = new HttpRequestMessage(attack.Method, attack.Path);
            if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.Accept.ParseAdd("text/html"); // as a browser would: no HTML error page either
            request.Headers.Add("X-Session-Id", "e2e-hostile");
            if (attack.Body is not null)
            {
                request.Content = new ByteArrayContent(attack.Body);
                if (attack.ContentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", attack.ContentType);
            }
            if (attack.Path.StartsWith("mcp", StringComparison.Ordinal)) request.Headers.Accept.ParseAdd("application/json, text/event-stream");
            // A body over the limit is refused before it is sent, as any careful client lets it be.
            if (attack.Body is { Length: > 1024 * 1024 }) request.Headers.ExpectContinue = true;
            var (status, type, body) = await Send(attack.Service(stack), request);
            var problems = attack.RefusedByKestrel
                ? [.. Leaks(body, token), .. status == 400 ? Array.Empty<string>() : ["not Kestrel's 400"]]
                : Judge(status, type, body, token, attack.Expected);
            if (problems.Count > 0) failures.Add($"{attack.Name}: {string.Join("; ", problems)} -> {status} {type} {Shorten(body)}");
        }
        Assert.True(count >= 60, $"only {count} attacks");
        Assert.True(failures.Count == 0, $"{failures.Count} of {count} attacks were not answered right:\n{string.Join('\n', failures)}");
    }

    /// <summary>The development OpenID provider: form floods, broken forms and unknown grants, as a browser or a client sends them.</summary>
    [Fact]
    public async Task The_OpenID_provider_answers_form_floods_and_broken_forms_without_a_stack_or_headers()
    {
        using var http = new HttpClient { BaseAddress = stack.Issuer };
        var flood = string.Join('&', Enumerable.Range(0, 10_000).Select(i => $"f{i}=v"));
        var cases = new (string Name, string Path, string Body)[]
        {
            ("10,000 fields to the token endpoint", "connect/token", "grant_type=client_credentials&" + flood),
            ("10,000 fields to the sign-in form", "connect/authorize", "response_type=code&client_id=portcullis-console&" + flood),
            ("a 1 MB field name", "connect/token", new string('k', 1024 * 1024) + "=v"),
            ("broken percent-encoding", "connect/token", "grant_type=%zz&client_id=%"),
            ("an unknown grant", "connect/token", "grant_type=password&username=a&password=b&client_id=x"),
            ("no grant at all", "connect/token", ""),
        };
        const string secretHeader = "X-Probe-Secret";
        var secret = "probe-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        var failures = new List<string>();
        foreach (var (name, path, body) in cases)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path)
            {
                Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded"),
            };
            request.Headers.Accept.ParseAdd("text/html,application/xhtml+xml");
            request.Headers.Add(secretHeader, secret);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            var (status, type, text) = await Send(http, request);
            var problems = new List<string>();
            if (status is < 400 or >= 500) problems.Add("not a 4xx");
            // OAuth 2 errors keep their own JSON form (RFC 6749 5.2); anything else is a problem document.
            if (type is not ("application/problem+json" or "application/json")) problems.Add("neither a problem nor an OAuth error");
            problems.AddRange(Leaks(text, secret));
            if (text.Contains(secretHeader, StringComparison.OrdinalIgnoreCase)) problems.Add("echoes the request's headers");
            if (problems.Count > 0) failures.Add($"{name}: {string.Join("; ", problems)} -> {status} {type} {Shorten(text)}");
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>Result types the driver has no mapping for come back as PostgreSQL's text, never as a failure.</summary>
    [Fact]
    public async Task Unusual_result_types_come_back_as_text()
    {
        var queries = new (string Sql, string Expected)[]
        {
            ("SELECT 'pg_monitor'::regrole AS v", "pg_monitor"),
            ("SELECT 'pg_class'::regclass AS v", "pg_class"),
            ("SELECT 'now'::regproc AS v", "now"),
            ("SELECT 'integer'::regtype AS v", "integer"),
            ("SELECT ARRAY['pg_class'::regclass, 'pg_type'::regclass] AS v", "{pg_class,pg_type}"),
            ("SELECT 'a fat cat'::tsvector AS v", "'a' 'cat' 'fat'"),
            ("SELECT 'fat & cat'::tsquery AS v", "'fat' & 'cat'"),
            ("SELECT '<a>x</a>'::xml AS v", "<a>x</a>"),
            ("SELECT int4range(1, 5) AS v", "[1,5)"),
            ("SELECT int4multirange(int4range(1, 2), int4range(5, 6)) AS v", "{[1,2),[5,6)}"),
            ("SELECT interval '1 year 2 mons' AS v", "1 year 2 mons"),
            ("SELECT 'NaN'::numeric AS v", "NaN"),
            ("SELECT 'Infinity'::float8 AS v", "Infinity"),
            ("SELECT '10000-01-01'::date AS v", "10000-01-01"),
            ("SELECT '294276-01-01'::timestamp AS v", "294276-01-01 00:00:00"),
            ("SELECT '10:20:10,14,15'::txid_snapshot AS v", "10:20:10,14,15"),
            ("SELECT B'101' AS v", "101"),
            ("SELECT '(1,2)'::point AS v", "(1,2)"),
            ("SELECT ROW(1, 'a') AS v", "(1,a)"),
        };
        var failures = new List<string>();
        foreach (var (sql, expected) in queries)
        {
            var (status, body) = await Query(new { sql });
            if (status != 200) { failures.Add($"{sql}: {status} {Shorten(body)}"); continue; }
            var value = JsonDocument.Parse(body).RootElement.GetProperty("results")[0].GetProperty("rows")[0][0];
            var text = value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText();
            if (text != expected) failures.Add($"{sql}: got {value.GetRawText()}, expected {expected}");
        }

        // JSON types stay where JSON has them: integers, exact decimals, booleans.
        var (typedStatus, typed) = await Query(new
        {
            sql = "SELECT 42 AS i, 1e-30::numeric AS n, 1.5::float8 AS f, true AS b, NULL::int AS z, $1::int AS p",
            parameters = new object[] { 7 },
        });
        Assert.True(typedStatus == 200, typed);
        Assert.Contains("[42,0.000000000000000000000000000001,1.5,true,null,7]", typed);
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>A statement to the warehouse; a 503 (the policy not deciding in time, as on a cold start) is asked again.</summary>
    private async Task<(int Status, string Body)> Query(object body)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", "e2e-hostile-types");
            request.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, Json);
            var (status, _, text) = await Send(stack.Gateway, request);
            if (status != 503 || attempt == 3) return (status, text);
            await Task.Delay(1000);
        }
    }

    /// <summary>
    /// Tokens where they do not belong (the query string, as credential-named parameters, a path segment) are
    /// refused or used as the request says, and no service writes them to its log.
    /// </summary>
    [Fact]
    public async Task Tokens_sent_in_query_strings_or_paths_never_reach_a_log()
    {
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        var secrets = new List<string> { token };
        string Secret(string name)
        {
            var value = $"{name}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(12))}";
            secrets.Add(value);
            return value;
        }
        var services = new (string Name, HttpClient Client)[]
        {
            ("gateway", stack.Gateway), ("policy", stack.Policy), ("audit", stack.Audit), ("approval", stack.Approval),
            ("identity", new HttpClient { BaseAddress = stack.Issuer }),
        };
        var names = new[] { "access_token", "token", "id_token", "refresh_token", "code", "password", "pwd", "secret", "api_key",
            "apikey", "key", "signature", "sig", "client_secret", "session", "X-Amz-Signature", "auth", "access%5Ftoken" };
        foreach (var (name, client) in services)
        {
            foreach (var path in new[] { "health/ready", "sessions", "policy", "approvals", "http/demo/customers/1", "connect/token" })
            {
                using var inQuery = new HttpRequestMessage(HttpMethod.Get, $"{path}?access_token={token}&page=2");
                (await client.SendAsync(inQuery)).Dispose();
                var query = string.Join('&', names.Select(n => $"{n}={Secret(n.Replace("%5F", "_"))}"));
                using var named = new HttpRequestMessage(HttpMethod.Get, $"{path}?{query}");
                named.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                (await client.SendAsync(named)).Dispose();
            }
            using var inPath = new HttpRequestMessage(HttpMethod.Get, $"sessions/{token}");
            inPath.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            (await client.SendAsync(inPath)).Dispose();
        }
        // Through the proxy to the upstream (YARP logs the URL it forwards to), with a valid token.
        using (var proxied = await stack.AgentRequest(HttpMethod.Get, $"http/demo/customers/1?api_key={Secret("upstream")}&access_token={token}", "e2e-hostile-logs"))
            (await stack.Gateway.SendAsync(proxied)).Dispose();
        // A form to the token endpoint with the secret in the body, and a sign-in with a password.
        using (var http = new HttpClient { BaseAddress = stack.Issuer })
        {
            (await http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials", ["client_id"] = "nobody", ["client_secret"] = Secret("form"),
            }))).Dispose();
        }
        await Task.Delay(1000); // the services write their logs as they go; let the last lines land

        // Every Portcullis process (the demo upstream is not one: what the agent sends it is the agent's business).
        var logs = Directory.EnumerateFiles(stack.RunDirectory, "*.log")
            .Where(l => Path.GetFileName(l) is not ("demo.log" or "sshd.log")).ToList();
        Assert.Contains(logs, l => Path.GetFileName(l) == "gateway.log");
        var found = new List<string>();
        var requestLinesSeen = 0;
        foreach (var log in logs)
        {
            var text = await ReadShared(log);
            requestLinesSeen += text.Split('\n').Count(l => l.Contains("Request starting", StringComparison.Ordinal) && l.Contains("page=2", StringComparison.Ordinal));
            foreach (var secret in secrets)
                if (text.Contains(secret, StringComparison.Ordinal))
                    found.Add($"{Path.GetFileName(log)}: {text.Split('\n').First(l => l.Contains(secret, StringComparison.Ordinal))}");
        }
        Assert.True(requestLinesSeen > 0, "no request line with the query was logged: the test would see nothing");
        Assert.True(found.Count == 0, "secrets in logs:\n" + string.Join('\n', found.Take(20)));
    }

    /// <summary>A token signed with the issuer's own key but naming another key id, or none, is refused by every API.</summary>
    [Fact]
    public async Task A_token_naming_a_key_the_issuer_does_not_publish_is_refused_everywhere()
    {
        using var http = new HttpClient { BaseAddress = stack.Issuer };
        var discovery = JsonDocument.Parse(await http.GetStringAsync(".well-known/openid-configuration")).RootElement;
        var jwks = JsonDocument.Parse(await http.GetStringAsync(discovery.GetProperty("jwks_uri").GetString())).RootElement;
        var publishedKid = jwks.GetProperty("keys")[0].GetProperty("kid").GetString()!;
        Assert.Equal(stack.SigningKeyId, publishedKid);

        string Mint(string? kid, string group)
        {
            var key = new RsaSecurityKey(stack.SigningKey) { KeyId = kid };
            var now = DateTime.UtcNow;
            return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
            {
                Issuer = stack.Issuer.ToString(),
                Audience = "portcullis",
                Subject = new ClaimsIdentity([new Claim("sub", "kid-probe"), new Claim("groups", group)]),
                NotBefore = now.AddMinutes(-1),
                IssuedAt = now.AddMinutes(-1),
                Expires = now.AddMinutes(10),
                SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.RsaSha256),
            });
        }

        var targets = new (string Name, HttpClient Client, string Path, string Group)[]
        {
            ("gateway", stack.Gateway, "http/demo/customers/1", "agents"),
            ("policy", stack.Policy, "policy", "admins"),
            ("approval", stack.Approval, "approvals", "approvers"),
            ("audit", stack.Audit, "sessions?limit=1", "auditors"),
        };
        foreach (var (name, client, path, group) in targets)
        {
            // The control: the same token with the published kid is accepted, so the refusals below come from the kid.
            Assert.Equal(HttpStatusCode.OK, await Status(client, path, Mint(publishedKid, group)));
            foreach (var kid in new[] { "not-published", publishedKid.ToUpperInvariant() == publishedKid ? publishedKid.ToLowerInvariant() : publishedKid.ToUpperInvariant(), publishedKid + " ", null })
                Assert.True(await Status(client, path, Mint(kid, group)) == HttpStatusCode.Unauthorized,
                    $"{name} accepted a token with kid {(kid is null ? "(none)" : $"'{kid}'")}");
        }
    }

    private static async Task<HttpStatusCode> Status(HttpClient client, string path, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("X-Session-Id", "e2e-hostile-kid");
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }

    private static async Task<(int Status, string? Type, string Body)> Send(HttpClient client, HttpRequestMessage request)
    {
        using var response = await client.SendAsync(request);
        return ((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsStringAsync());
    }

    private static List<string> Judge(int status, string? type, string body, string? token, int[]? expected)
    {
        var problems = new List<string>();
        if (expected is not null ? !expected.Contains(status) : status is < 400 or >= 500 or 401)
            problems.Add(expected is null ? "not a 4xx" : $"not {string.Join("/", expected)}");
        if (type != "application/problem+json") problems.Add("not a problem document");
        else
        {
            try
            {
                var problem = JsonDocument.Parse(body).RootElement;
                if (!problem.TryGetProperty("detail", out var detail) || string.IsNullOrWhiteSpace(detail.GetString()))
                    problems.Add("no detail");
                if (!problem.TryGetProperty("status", out var number) || number.GetInt32() != status) problems.Add("status differs");
            }
            catch (JsonException)
            {
                problems.Add("the problem is not JSON");
            }
        }
        problems.AddRange(Leaks(body, token));
        return problems;
    }

    private static IEnumerable<string> Leaks(string body, string? token)
    {
        if (body.Contains("   at ", StringComparison.Ordinal) || body.Contains(".cs:line", StringComparison.Ordinal)) yield return "a stack trace";
        if (body.Contains("Exception", StringComparison.Ordinal)) yield return "an exception type";
        if (token is not null && body.Contains(token, StringComparison.Ordinal)) yield return "echoes the token";
        if (body.Contains("Authorization", StringComparison.OrdinalIgnoreCase)) yield return "echoes headers";
    }

    private static string Shorten(string text) => text.Length > 300 ? text[..300] + "…" : text;

    private static async Task<string> ReadShared(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}
