using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Configuration;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Connectors.Http;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// The gateway's connections as MCP tools: <c>list_connections</c>, and <c>sql_query</c>, <c>http_request</c>,
/// <c>run_command</c> for the kinds of connection the caller may see. A tool call is one request through the
/// gateway's own endpoints (<c>/sql</c>, <c>/http</c>, <c>/exec</c>) with the caller's token and the MCP session
/// as the audit session, so it crosses exactly the controls a direct request does: policy, approval,
/// execution with the gateway's credentials, masking, audit. Refusals come back as tool errors that say which
/// rule refused and why, or how to retry a pending approval.
/// </summary>
public sealed class McpTools(PortcullisConfig config, IHttpContextAccessor accessor, IHttpClientFactory http, IServer server,
    ILogger<McpTools> logger)
{
    public const string ListConnections = "list_connections";
    public const string SqlQuery = "sql_query";
    public const string HttpRequest = "http_request";
    public const string RunCommand = "run_command";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    public static ValueTask<ListToolsResult> ListAsync(RequestContext<ListToolsRequestParams> context, CancellationToken _) =>
        ValueTask.FromResult(context.Services!.GetRequiredService<McpTools>().List(context.User));

    public static ValueTask<CallToolResult> CallAsync(RequestContext<CallToolRequestParams> context, CancellationToken cancellationToken) =>
        new(context.Services!.GetRequiredService<McpTools>().CallAsync(context.User, context.Server.SessionId,
            context.Params!.Name, context.Params.Arguments, cancellationToken));

    /// <summary>The connections <paramref name="user"/> may see, by name.</summary>
    public IReadOnlyDictionary<string, ConnectionConfig> Visible(ClaimsPrincipal? user)
    {
        var groups = user?.Identity?.IsAuthenticated == true ? user.ToPrincipal().Groups : [];
        return config.Connections
            .Where(c => c.Value.VisibleTo.Count == 0 || c.Value.VisibleTo.Any(groups.Contains))
            .OrderBy(c => c.Key, StringComparer.Ordinal)
            .ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
    }

    public ListToolsResult List(ClaimsPrincipal? user)
    {
        var visible = Visible(user);
        List<Tool> tools =
        [
            Tool(ListConnections, "List connections",
                "Lists the connections you can use through this gateway: their names, kinds (http, postgres, ssh) and what they are for. " +
                "Every action is checked against policy, may need a human's approval, and its output is masked before you see it.",
                new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() }),
        ];
        string[] Of(string kind) => [.. visible.Where(c => c.Value.Kind == kind).Select(c => c.Key)];
        if (Of("postgres") is { Length: > 0 } databases)
            tools.Add(Tool(SqlQuery, "Run a SQL query",
                $"Runs SQL on a PostgreSQL connection ({Describe(visible, databases)}) and returns the rows as JSON with each " +
                "column's origin (schema.table.column). Use $1, $2, ... with 'parameters' for values. Rules may refuse statements " +
                "(for example DDL, COPY ... PROGRAM) or require an approver.",
                Schema(new()
                {
                    ["connection"] = Enum(databases, "The postgres connection to query."),
                    ["sql"] = Text("The SQL to run."),
                    ["parameters"] = new JsonObject { ["type"] = "array", ["description"] = "Values for $1, $2, ... in order." },
                    ["approval_id"] = ApprovalIdProperty(),
                }, "connection", "sql")));
        if (Of("http") is { Length: > 0 } apis)
            tools.Add(Tool(HttpRequest, "Call an HTTP API",
                $"Sends an HTTP request to an API connection ({Describe(visible, apis)}); the gateway adds the API's credentials. " +
                "Returns the status and the (masked) body.",
                Schema(new()
                {
                    ["connection"] = Enum(apis, "The http connection to call."),
                    ["method"] = Enum(["GET", "POST", "PUT", "PATCH", "DELETE"], "The HTTP method."),
                    ["path"] = Text("The path on the API, starting with '/', e.g. /customers/1."),
                    ["query"] = Text("The query string without '?', e.g. limit=10."),
                    ["body"] = Text("The request body (JSON text for JSON APIs)."),
                    ["content_type"] = Text("The body's content type; application/json when omitted."),
                    ["approval_id"] = ApprovalIdProperty(),
                }, "connection", "method", "path")));
        if (Of("ssh") is { Length: > 0 } hosts)
            tools.Add(Tool(RunCommand, "Run a shell command",
                $"Runs a shell command on a host ({Describe(visible, hosts)}) and returns its exit code, stdout and stderr. " +
                "Commands that reach the network or run inline code are usually refused.",
                Schema(new()
                {
                    ["connection"] = Enum(hosts, "The ssh connection (host) to run on."),
                    ["command"] = Text("The command line, as for sh -c."),
                    ["approval_id"] = ApprovalIdProperty(),
                }, "connection", "command")));
        return new ListToolsResult { Tools = tools };
    }

    public async Task<CallToolResult> CallAsync(ClaimsPrincipal? user, string? sessionId, string tool,
        IDictionary<string, JsonElement>? arguments, CancellationToken cancellationToken)
    {
        arguments ??= new Dictionary<string, JsonElement>();
        var visible = Visible(user);
        if (tool == ListConnections)
            return Success(JsonSerializer.Serialize(visible.Select(c => new
            {
                name = c.Key,
                kind = c.Value.Kind,
                description = c.Value.Description,
                tool = c.Value.Kind switch { "postgres" => SqlQuery, "http" => HttpRequest, "ssh" => RunCommand, _ => null },
            }), Json));

        var kind = tool switch { SqlQuery => "postgres", HttpRequest => "http", RunCommand => "ssh", _ => null };
        if (kind is null) return Failure($"There is no tool '{tool}'. Call tools/list to see the tools you can use.");
        var connection = String(arguments, "connection");
        if (connection is null || !visible.TryGetValue(connection, out var found) || found.Kind != kind)
            return Failure($"'{connection}' is not a {kind} connection you can use. Call {ListConnections} to see them.");

        using var request = Build(tool, connection, arguments, out var usage);
        if (request is null) return Failure(usage!);
        var incoming = accessor.HttpContext?.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(incoming)) return Failure("The MCP request carried no bearer token; nothing was run.");
        request.Headers.TryAddWithoutValidation("Authorization", incoming);
        if (sessionId is not null) request.Headers.Add("X-Session-Id", sessionId);
        if (String(arguments, "approval_id") is { Length: > 0 } approval) request.Headers.Add(ApprovalGate.Header, approval);

        using var response = await http.CreateClient(nameof(McpTools)).SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        logger.LogInformation("MCP session {Session}: {Tool} on {Connection} -> {Status}", sessionId, tool, connection,
            (int)response.StatusCode);
        return Answer(tool, response, body);
    }

    /// <summary>The request to the gateway's own endpoint for a tool call, or null with what was wrong with the arguments.</summary>
    private HttpRequestMessage? Build(string tool, string connection, IDictionary<string, JsonElement> arguments, out string? usage)
    {
        usage = null;
        var self = SelfAddress();
        switch (tool)
        {
            case SqlQuery:
                if (String(arguments, "sql") is not { Length: > 0 } sql) { usage = "sql_query needs 'sql'."; return null; }
                var parameters = arguments.TryGetValue("parameters", out var p) && p.ValueKind == JsonValueKind.Array
                    ? p.EnumerateArray().ToArray() : [];
                return new HttpRequestMessage(HttpMethod.Post, new Uri(self, $"sql/{Uri.EscapeDataString(connection)}"))
                {
                    Content = JsonContent.Create(new { sql, parameters }),
                };
            case RunCommand:
                if (String(arguments, "command") is not { Length: > 0 } command) { usage = "run_command needs 'command'."; return null; }
                return new HttpRequestMessage(HttpMethod.Post, new Uri(self, $"exec/{Uri.EscapeDataString(connection)}"))
                {
                    Content = JsonContent.Create(new { command }),
                };
            default:
                var method = String(arguments, "method")?.ToUpperInvariant() ?? "GET";
                if (method is not ("GET" or "POST" or "PUT" or "PATCH" or "DELETE")) { usage = "method must be GET, POST, PUT, PATCH or DELETE."; return null; }
                var given = String(arguments, "path") ?? "/";
                if (!given.StartsWith('/') || given.Contains("://", StringComparison.Ordinal) || given.IndexOfAny(['?', '#']) >= 0)
                { usage = "path must start with '/' and be a path on the API, not a URL; put the query in 'query'."; return null; }
                // The same canonical form as /http: "/../../sql/warehouse" must never leave the connection's prefix.
                if (CanonicalTarget.CanonicalPath(given, out var problem) is not { } path) { usage = "path: " + problem; return null; }
                var query = String(arguments, "query")?.TrimStart('?');
                var target = new Uri(self, $"http/{Uri.EscapeDataString(connection)}{path}{(string.IsNullOrEmpty(query) ? "" : "?" + query)}");
                var message = new HttpRequestMessage(new HttpMethod(method), target);
                if (String(arguments, "body") is { } content)
                    message.Content = new StringContent(content, Encoding.UTF8,
                        MediaTypeHeaderValue.Parse(String(arguments, "content_type") ?? "application/json").MediaType ?? "application/json");
                return message;
        }
    }

    /// <summary>A tool result from the gateway's answer: the masked output, or a refusal an agent can act on.</summary>
    private static CallToolResult Answer(string tool, HttpResponseMessage response, string body)
    {
        var status = (int)response.StatusCode;
        JsonElement? problem = response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json"
                               && body.StartsWith('{') ? TryParse(body) : null;
        string? Field(string name) => problem is { } p && p.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        if (response.StatusCode == HttpStatusCode.Accepted && Field("approvalId") is { } approvalId)
            return Failure($"Approval pending (approval id {approvalId}): {Field("detail")?.Split(" Re-send")[0]} " +
                           $"Nothing ran yet. Call {tool} again with the same arguments and \"approval_id\": \"{approvalId}\" after " +
                           $"{RetryAfter(response)} seconds; it runs once an approver grants it.", body);
        if (problem is not null && Field("type")?.StartsWith("https://portcullis.dev/problems/", StringComparison.Ordinal) == true)
        {
            var rule = Field("rule");
            var text = Field("type")!.EndsWith("/denied", StringComparison.Ordinal)
                ? $"Denied by policy rule '{rule}': {Field("detail")} The action was not run; choose another approach."
                : $"{Field("title")} ({status}){(rule is null ? "" : $", rule '{rule}'")}: {Field("detail")}";
            return Failure(text, body);
        }
        if (tool == HttpRequest)
        {
            var text = $"HTTP {status} {response.Content.Headers.ContentType?.MediaType}\n\n{body}";
            return status < 400 ? Success(text) : Failure(text);
        }
        return status < 400 ? Success(body) : Failure($"Error {status}: {body}");
    }

    private Uri SelfAddress()
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
                      ?? throw new InvalidOperationException("The gateway does not know the address it listens on.");
        var uri = new UriBuilder(address.Replace("://+", "://localhost").Replace("://*", "://localhost").Replace("://[::]", "://localhost")
            .Replace("://0.0.0.0", "://127.0.0.1"));
        uri.Path = "/";
        return uri.Uri;
    }

    private static int RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter?.Delta is { } delta ? (int)delta.TotalSeconds : 10;

    private static JsonElement? TryParse(string body)
    {
        try { return JsonDocument.Parse(body).RootElement.Clone(); }
        catch (JsonException) { return null; }
    }

    private static string? String(IDictionary<string, JsonElement> arguments, string name) =>
        arguments.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Describe(IReadOnlyDictionary<string, ConnectionConfig> visible, string[] names) =>
        string.Join("; ", names.Select(n => visible[n].Description is { Length: > 0 } d ? $"'{n}': {d}" : $"'{n}'"));

    private static CallToolResult Success(string text) => new() { Content = [new TextContentBlock { Text = text }] };

    private static CallToolResult Failure(string text, string? detail = null) => new()
    {
        IsError = true,
        Content = detail is null
            ? [new TextContentBlock { Text = text }]
            : [new TextContentBlock { Text = text }, new TextContentBlock { Text = detail }],
    };

    private static Tool Tool(string name, string title, string description, JsonObject schema) => new()
    {
        Name = name,
        Title = title,
        Description = description,
        InputSchema = JsonSerializer.SerializeToElement(schema),
    };

    private static JsonObject Schema(Dictionary<string, JsonNode> properties, params string[] required) => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject(properties.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        ["required"] = new JsonArray([.. required.Select(r => (JsonNode)r)]),
        ["additionalProperties"] = false,
    };

    private static JsonObject Text(string description) => new() { ["type"] = "string", ["description"] = description };

    private static JsonObject Enum(string[] values, string description) => new()
    {
        ["type"] = "string",
        ["enum"] = new JsonArray([.. values.Select(v => (JsonNode)v)]),
        ["description"] = description,
    };

    private static JsonObject ApprovalIdProperty() => Text(
        "Only when retrying an action that waits for approval: the approval id the earlier call returned.");
}
