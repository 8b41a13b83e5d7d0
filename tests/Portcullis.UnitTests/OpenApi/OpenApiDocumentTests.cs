using System.Net;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace Portcullis.UnitTests.OpenApi;

/// <summary>
/// Each service's OpenAPI document against the service's own endpoints: every documented operation is a route the
/// service maps, every route it maps is documented (apart from the explicit list below, each with its reason), and
/// the document names the bearer scheme and the problem answers.
/// </summary>
public sealed class OpenApiDocumentTests
{
    /// <summary>Mapped but not API: what a reader of the document has no use for, each for a stated reason.</summary>
    private static readonly (string Path, string Why)[] Undocumented =
    [
        ("/health/live", "probes for the orchestrator"),
        ("/health/ready", "probes for the orchestrator"),
        ("/metrics", "the Prometheus scrape endpoint"),
        ("/openapi/v1.json", "the document itself"),
        ("/scalar/{**slug}", "the reference page (Development only)"),
        ("/console", "the approver console: HTML pages behind a browser sign-in, not an API"),
        ("/", "the approval service's redirect to its console"),
    ];

    public static TheoryData<string> Services => ["gateway", "policy", "approval", "audit"];

    private static IServiceHost Host(string service, string environment = "Production") => service switch
    {
        "gateway" => new ServiceHost<Portcullis.Gateway.Apis.SqlRequest>(environment),
        "policy" => new ServiceHost<Portcullis.Policy.Apis.EvaluateRequest>(environment),
        "approval" => new ServiceHost<Portcullis.Approval.Apis.DecisionBody>(environment),
        "audit" => new ServiceHost<Portcullis.Audit.Apis.SessionRecord>(environment),
        _ => throw new ArgumentOutOfRangeException(nameof(service)),
    };

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Every_documented_operation_is_a_mapped_route(string service)
    {
        await using var host = Host(service);
        var (document, routes) = await Read(host);
        foreach (var (path, method) in Operations(document))
            Assert.True(routes.Any(r => r.Path == path && (r.Methods is null || r.Methods.Contains(method))),
                $"{service} documents {method} {path}, which it does not map");
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task Every_mapped_route_is_documented(string service)
    {
        await using var host = Host(service);
        var (document, routes) = await Read(host);
        var operations = Operations(document).ToList();
        foreach (var route in routes.Where(r => !Undocumented.Any(u => r.Path == u.Path || r.Path.StartsWith(u.Path + "/", StringComparison.Ordinal))))
        {
            var documented = operations.Where(o => Covers(o.Path, route.Path)).Select(o => o.Method).ToHashSet();
            Assert.True(documented.Count > 0, $"{service} maps {route.Path}, which its document does not describe");
            foreach (var method in route.Methods ?? [])
                Assert.True(documented.Contains(method), $"{service} maps {method} {route.Path}, which its document does not describe");
        }
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task The_document_names_the_bearer_scheme_on_every_protected_operation(string service)
    {
        await using var host = Host(service);
        var (document, _) = await Read(host);
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer");
        Assert.Equal("http", scheme.GetProperty("type").GetString());
        Assert.Equal("bearer", scheme.GetProperty("scheme").GetString());
        Assert.Equal("JWT", scheme.GetProperty("bearerFormat").GetString());
        var protectedOperations = 0;
        foreach (var (path, method, operation) in OperationObjects(document))
        {
            if (!operation.TryGetProperty("security", out var security)) continue;
            protectedOperations++;
            Assert.Contains(security.EnumerateArray(), r => r.TryGetProperty("bearer", out _));
            Assert.True(ProblemAnswer(operation, "401"), $"{service}: {method} {path} takes a token but does not document its 401");
        }
        Assert.True(protectedOperations > 0, $"{service} documents no operation behind a bearer token");
    }

    [Theory]
    [InlineData("gateway", "post", "/sql/{connection}", new[] { "400", "401", "403", "404", "422", "502", "503" })]
    [InlineData("gateway", "post", "/exec/{connection}", new[] { "400", "401", "403", "404", "502", "503" })]
    [InlineData("policy", "put", "/policy", new[] { "400", "401", "403", "409", "422" })]
    [InlineData("policy", "post", "/policy/mcp-tools/accept", new[] { "400", "401", "403", "404" })]
    [InlineData("approval", "post", "/approvals/{id}/approve", new[] { "400", "401", "403", "404", "409" })]
    [InlineData("audit", "get", "/sessions/{id}/verify", new[] { "401", "403", "404" })]
    [InlineData("audit", "get", "/sessions", new[] { "400", "401", "403" })]
    [InlineData("audit", "get", "/sessions/{id}/replay", new[] { "401", "403", "404" })]
    public async Task Refusals_are_documented_as_problem_details(string service, string method, string path, string[] statuses)
    {
        await using var host = Host(service);
        var (document, _) = await Read(host);
        var operation = document.GetProperty("paths").GetProperty(path).GetProperty(method);
        foreach (var status in statuses)
            Assert.True(ProblemAnswer(operation, status), $"{service}: {method} {path} does not document {status} as problem details");
    }

    [Fact]
    public async Task The_gateway_describes_its_http_proxy()
    {
        await using var host = Host("gateway");
        var (document, _) = await Read(host);
        var proxy = document.GetProperty("paths").GetProperty("/http/{connection}/{path}");
        foreach (var method in new[] { "get", "post", "put", "patch", "delete" })
            Assert.Contains("masked", proxy.GetProperty(method).GetProperty("description").GetString());
    }

    [Fact]
    public async Task The_replay_is_documented_as_json_and_as_a_transcript()
    {
        await using var host = Host("audit");
        var (document, _) = await Read(host);
        var content = document.GetProperty("paths").GetProperty("/sessions/{id}/replay").GetProperty("get")
            .GetProperty("responses").GetProperty("200").GetProperty("content");
        Assert.True(content.TryGetProperty("application/json", out _));
        Assert.True(content.TryGetProperty("text/plain", out _));
    }

    [Fact]
    public async Task The_document_is_made_once_and_never_names_the_callers_host()
    {
        await using var host = Host("gateway");
        var client = host.CreateClient();
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json") { Headers = { Host = "attacker.example" } };
        var first = await (await client.SendAsync(forged)).Content.ReadAsStringAsync();
        var second = await client.GetStringAsync("/openapi/v1.json");
        Assert.DoesNotContain("attacker.example", first);
        Assert.Equal(first, second);
    }

    [Fact]
    public async Task The_reference_page_is_served_in_development_only()
    {
        await using (var development = Host("policy", "Development"))
            Assert.Equal(HttpStatusCode.OK, (await development.CreateClient().GetAsync("/scalar/")).StatusCode);
        await using var production = Host("policy");
        Assert.Equal(HttpStatusCode.NotFound, (await production.CreateClient().GetAsync("/scalar/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await production.CreateClient().GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Theory]
    [MemberData(nameof(Services))]
    public async Task The_anonymous_document_names_no_connection_rule_upstream_or_secret_of_the_configuration(string service)
    {
        // What an agent can read on the gateway's public port without a token: the API's shape, not the policy's.
        await using var host = Host(service);
        using var response = await host.CreateClient().GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = await response.Content.ReadAsStringAsync();
        var configuration = new YamlDotNet.Serialization.DeserializerBuilder().Build()
            .Deserialize<Dictionary<object, object>>(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot, "portcullis.yaml")));
        var connections = (Dictionary<object, object>)configuration["connections"];
        // Rule ids, upstreams, hosts, connection strings, account names and secret references: anywhere in the text.
        var values = new List<string>();
        foreach (var spec in connections.Values.Cast<Dictionary<object, object>>())
            foreach (var (key, value) in spec)
                if (value is string text && ((string)key is "upstream" or "host" or "connection_string" or "username"
                                             || text.StartsWith("secret:", StringComparison.Ordinal)))
                    values.Add(text);
        foreach (var section in new[] { "policy", "masking" })
            if (configuration.GetValueOrDefault(section) is Dictionary<object, object> part && part.GetValueOrDefault("rules") is List<object> rules)
                values.AddRange(rules.Cast<Dictionary<object, object>>().Select(r => (string)r["id"]));
        Assert.True(values.Count > 30, "too little read from portcullis.yaml: " + string.Join(", ", values));
        foreach (var value in values)
            Assert.False(document.Contains(value, StringComparison.Ordinal), $"the {service} document, anonymous, holds '{value}' from portcullis.yaml");
        // Connection names are ordinary words ("files", "demo"): not as a value, a key or a path segment.
        foreach (var name in connections.Keys.Cast<string>())
            Assert.False(System.Text.RegularExpressions.Regex.IsMatch(document, $@"""{name}""|/{name}[/""]"),
                $"the {service} document, anonymous, names the connection '{name}'");
    }

    private static readonly string RepositoryRoot = typeof(OpenApiDocumentTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    private sealed record Route(string Path, IReadOnlyList<string>? Methods);

    private static async Task<(JsonElement Document, IReadOnlyList<Route> Routes)> Read(IServiceHost host)
    {
        using var response = await host.CreateClient().GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        var routes = host.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Select(e => new Route(Normalize(e.RoutePattern),
                e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Select(m => m.ToLowerInvariant()).ToList()))
            .ToList();
        return (document, routes);
    }

    /// <summary>The route as a path template: constraints, defaults and catch-all stars dropped, as the document writes it.</summary>
    private static string Normalize(RoutePattern pattern) => pattern.RawText is { } raw && raw.StartsWith("/scalar", StringComparison.Ordinal)
        ? "/scalar/{**slug}"
        : "/" + string.Join("/", pattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
        {
            RoutePatternLiteralPart literal => literal.Content,
            RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
            RoutePatternSeparatorPart separator => separator.Content,
            _ => "",
        }))));

    /// <summary>A documented path covers a mapped one segment by segment; a documented parameter stands for any segment.</summary>
    private static bool Covers(string documented, string mapped)
    {
        if (documented == mapped) return true;
        var (d, m) = (documented.Split('/'), mapped.Split('/'));
        return d.Length == m.Length && d.Zip(m).All(p => p.First == p.Second || p.First.StartsWith('{') && p.First.EndsWith('}'));
    }

    private static IEnumerable<(string Path, string Method)> Operations(JsonElement document) =>
        OperationObjects(document).Select(o => (o.Path, o.Method));

    private static IEnumerable<(string Path, string Method, JsonElement Operation)> OperationObjects(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(p => p.Name is "get" or "put" or "post" or "delete" or "options" or "head" or "patch" or "trace")
            .Select(operation => (path.Name, operation.Name, operation.Value)));

    private static bool ProblemAnswer(JsonElement operation, string status) =>
        operation.TryGetProperty("responses", out var responses) && responses.TryGetProperty(status, out var response)
        && response.TryGetProperty("content", out var content) && content.TryGetProperty("application/problem+json", out _);
}
