using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Portcullis.Gateway.Apis;
using Portcullis.Gateway.Connectors.Http;
using Portcullis.Gateway.Connectors.Mcp;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Gateway.Connectors.Ssh;
using Portcullis.Gateway.HttpProxy;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Sessions;
using Yarp.ReverseProxy.Model;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// Runs a tool call as one agent request through the gateway, in process: <c>sql_query</c> and <c>run_command</c>
/// through the same endpoint code as <c>/sql</c> and <c>/exec</c>, <c>http_request</c> through the connection's proxy
/// route (canonical target, header stripping, method override refusal, credentials, masking). The caller's identity
/// and token travel with it and the MCP session is its audit session, so it crosses exactly the controls a direct
/// request does: policy, approval, execution with the gateway's credentials, masking, audit.
/// </summary>
public sealed class McpToolCalls(McpToolCatalog catalog, McpProxiedTools proxied, McpProxiedResources resources, IHttpContextAccessor accessor,
    IServiceScopeFactory scopes, EndpointDataSource endpoints, ILogger<McpToolCalls> logger)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    /// <summary>How long one tool call may take end to end (an approval wait included).</summary>
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(2);

    public async Task<CallToolResult> CallAsync(ClaimsPrincipal? user, string? sessionId, string tool,
        IDictionary<string, JsonElement>? arguments, CancellationToken cancellationToken, IProgress<ProgressNotificationValue>? progress = null)
    {
        arguments ??= new Dictionary<string, JsonElement>();
        var visible = catalog.Visible(user);
        if (tool == McpToolCatalog.ListConnections)
            return McpToolAnswers.Success(JsonSerializer.Serialize(visible.Select(c => new
            {
                name = c.Key,
                kind = c.Value.Kind,
                description = c.Value.Description,
                tool = McpToolCatalog.ToolFor(c.Value.Kind),
            }), Json));

        string? connection;
        ToolCall? call;
        var isProxied = proxied.Split(tool) is not null;
        if (proxied.Split(tool) is var (mcpConnection, upstreamTool))
        {
            // A tool of an upstream MCP server, listed as {connection}.{tool}.
            connection = mcpConnection;
            if (!visible.ContainsKey(connection))
                return McpToolAnswers.Failure($"There is no tool '{tool}' you can use. Call tools/list to see the tools you can use.");
            var args = arguments;
            call = new ToolCall("POST", $"/mcp/{Uri.EscapeDataString(connection)}", null, null, context =>
                McpProxyApi.Run(mcpConnection, upstreamTool, args, context, Service<AgentRequestFlow>(context),
                    Service<McpUpstreams>(context), Service<McpToolPins>(context), Service<ILogger<McpUpstreams>>(context), progress));
        }
        else
        {
            var kind = McpToolCatalog.KindOf(tool);
            if (kind is null) return McpToolAnswers.Failure($"There is no tool '{tool}'. Call tools/list to see the tools you can use.");
            connection = String(arguments, "connection");
            if (connection is null || !visible.TryGetValue(connection, out var found) || found.Kind != kind)
                return McpToolAnswers.Failure($"'{connection}' is not a {kind} connection you can use. Call {McpToolCatalog.ListConnections} to see them.");
            call = Build(tool, connection, arguments, out var usage);
            if (call is null) return McpToolAnswers.Failure(usage!);
        }
        var response = await RunAsync(user, sessionId, call, String(arguments, "approval_id"), cancellationToken);
        if (response is null) return McpToolAnswers.Failure("The MCP request carried no bearer token; nothing was run.");
        logger.LogInformation("MCP session {Session}: {Tool} on {Connection} -> {Status}", sessionId, tool, connection, response.Status);
        return isProxied ? McpProxyAnswers.Answer(tool, response) : McpToolAnswers.Answer(tool, response);
    }

    /// <summary>
    /// Reads a resource of an upstream MCP server, listed as <c>{connection}+{uri}</c>, as one agent request; the
    /// result as masking left it, or a protocol error that says why nothing is returned (refused, pending approval,
    /// failed). <paramref name="approvalId"/> claims a granted approval (the request's <c>_meta.approval_id</c>).
    /// </summary>
    public async Task<ReadResourceResult> ReadResourceAsync(ClaimsPrincipal? user, string? sessionId, string listedUri, string? approvalId,
        CancellationToken cancellationToken)
    {
        if (resources.SplitUri(listedUri) is not var (connection, uri) || !catalog.Visible(user).ContainsKey(connection))
            throw new McpProtocolException($"There is no resource '{listedUri}' you can read. Call resources/list to see them.",
                McpErrorCode.ResourceNotFound);
        if (McpResourceUris.Problem(uri) is { } problem)
            throw new McpProtocolException($"The resource URI is refused: {problem} Nothing was read.", McpErrorCode.InvalidParams);
        var call = new ToolCall("POST", $"/mcp/{Uri.EscapeDataString(connection)}", null, null, context =>
            McpProxyApi.ReadResource(connection, uri, context, Service<AgentRequestFlow>(context), Service<McpUpstreams>(context),
                Service<ILogger<McpUpstreams>>(context)));
        var response = await RunAsync(user, sessionId, call, approvalId, cancellationToken)
                       ?? throw new McpProtocolException("The MCP request carried no bearer token; nothing was read.", McpErrorCode.InvalidRequest);
        logger.LogInformation("MCP session {Session}: resource on {Connection} -> {Status}", sessionId, connection, response.Status);
        return McpProxyAnswers.Read<ReadResourceResult>(listedUri, response, "read the resource again", "in the request's _meta");
    }

    /// <summary>Gets a prompt of an upstream MCP server, listed as <c>{connection}.{prompt}</c>, as one agent request.</summary>
    public async Task<GetPromptResult> GetPromptAsync(ClaimsPrincipal? user, string? sessionId, string listedName,
        IDictionary<string, JsonElement>? arguments, CancellationToken cancellationToken)
    {
        arguments ??= new Dictionary<string, JsonElement>();
        if (resources.SplitPrompt(listedName) is not var (connection, prompt) || !catalog.Visible(user).ContainsKey(connection))
            throw new McpProtocolException($"There is no prompt '{listedName}' you can use. Call prompts/list to see them.",
                McpErrorCode.InvalidParams);
        var args = arguments;
        var call = new ToolCall("POST", $"/mcp/{Uri.EscapeDataString(connection)}", null, null, context =>
            McpProxyApi.GetPrompt(connection, prompt, args, context, Service<AgentRequestFlow>(context), Service<McpUpstreams>(context),
                Service<ILogger<McpUpstreams>>(context)));
        var response = await RunAsync(user, sessionId, call, String(arguments, "approval_id"), cancellationToken)
                       ?? throw new McpProtocolException("The MCP request carried no bearer token; nothing was run.", McpErrorCode.InvalidRequest);
        logger.LogInformation("MCP session {Session}: prompt {Prompt} on {Connection} -> {Status}", sessionId, prompt, connection, response.Status);
        return McpProxyAnswers.Read<GetPromptResult>(listedName, response, "get the prompt again with the same arguments", "as the argument");
    }

    /// <summary>Runs <paramref name="call"/> in process as the caller, within <see cref="CallTimeout"/>; null without a token.</summary>
    private async Task<ToolResponse?> RunAsync(ClaimsPrincipal? user, string? sessionId, ToolCall call, string? approvalId,
        CancellationToken cancellationToken)
    {
        var incoming = accessor.HttpContext;
        var token = incoming?.Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(token) || user is null) return null;

        await using var scope = scopes.CreateAsyncScope();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(CallTimeout);
        var context = call.NewContext(incoming!, scope.ServiceProvider, user, token, sessionId, approvalId, deadline.Token);
        await call.Run(context);
        return Read(context);
    }

    /// <summary>The in-process request for a tool call, or null with what was wrong with the arguments.</summary>
    private ToolCall? Build(string tool, string connection, IDictionary<string, JsonElement> arguments, out string? usage)
    {
        usage = null;
        var name = Uri.EscapeDataString(connection);
        switch (tool)
        {
            case McpToolCatalog.SqlQuery:
                if (String(arguments, "sql") is not { Length: > 0 } sql) { usage = "sql_query needs 'sql'."; return null; }
                IReadOnlyList<JsonElement> parameters = arguments.TryGetValue("parameters", out var p) && p.ValueKind == JsonValueKind.Array
                    ? [.. p.EnumerateArray()] : [];
                return new ToolCall("POST", $"/sql/{name}", null, null, context =>
                    SqlApi.Run(connection, new SqlRequest(sql, parameters), context, Service<AgentRequestFlow>(context),
                        Service<PostgresConnector>(context), Service<AgentResponses>(context), Service<ILogger<PostgresConnector>>(context)));
            case McpToolCatalog.RunCommand:
                if (String(arguments, "command") is not { Length: > 0 } command) { usage = "run_command needs 'command'."; return null; }
                return new ToolCall("POST", $"/exec/{name}", null, null, context =>
                    ExecApi.Run(connection, new ExecRequest(command), context, Service<AgentRequestFlow>(context),
                        Service<SshConnector>(context), Service<AgentResponses>(context), Service<ILogger<SshConnector>>(context)));
            default:
                var method = String(arguments, "method")?.ToUpperInvariant() ?? "GET";
                if (method is not ("GET" or "POST" or "PUT" or "PATCH" or "DELETE")) { usage = "method must be GET, POST, PUT, PATCH or DELETE."; return null; }
                var given = String(arguments, "path") ?? "/";
                if (!given.StartsWith('/') || given.Contains("://", StringComparison.Ordinal) || given.IndexOfAny(['?', '#']) >= 0)
                { usage = "path must start with '/' and be a path on the API, not a URL; put the query in 'query'."; return null; }
                // The same canonical form as /http: "/../../sql/warehouse" must never leave the connection's prefix.
                if (CanonicalTarget.CanonicalPath(given, out var problem) is not { } path) { usage = "path: " + problem; return null; }
                var query = String(arguments, "query")?.TrimStart('?');
                // The request target as an HTTP client would send it (a Uri escapes what the query holds the same way).
                var target = new Uri(new Uri("http://gateway/"),
                    $"http/{name}{path}{(string.IsNullOrEmpty(query) ? "" : "?" + query)}").PathAndQuery;
                byte[]? body = null;
                string? contentType = null;
                if (String(arguments, "body") is { } content)
                {
                    body = Encoding.UTF8.GetBytes(content);
                    contentType = new MediaTypeHeaderValue(
                        MediaTypeHeaderValue.Parse(String(arguments, "content_type") ?? "application/json").MediaType ?? "application/json")
                        { CharSet = "utf-8" }.ToString();
                }
                var route = ProxyRoute(connection);
                return new ToolCall(method, target, body, contentType, context =>
                {
                    // The connection's proxy route, as routing would have chosen it for /http/{connection}/...
                    context.SetEndpoint(route);
                    return route.RequestDelegate!(context);
                });
        }
    }

    private RouteEndpoint ProxyRoute(string connection) =>
        endpoints.Endpoints.OfType<RouteEndpoint>().Single(e =>
            e.Metadata.GetMetadata<RouteModel>()?.Config.RouteId == HttpConnectionRoutes.RouteId(connection));

    private static T Service<T>(HttpContext context) where T : notnull => context.RequestServices.GetRequiredService<T>();

    private static ToolResponse Read(HttpContext context)
    {
        var response = context.Response;
        var bytes = ((MemoryStream)response.Body).ToArray();
        MediaTypeHeaderValue.TryParse(response.ContentType, out var type);
        Encoding encoding;
        try
        {
            encoding = type?.CharSet is { Length: > 0 } charset ? Encoding.GetEncoding(charset.Trim('"')) : Encoding.UTF8;
        }
        catch (ArgumentException)
        {
            encoding = Encoding.UTF8;
        }
        var body = new StreamReader(new MemoryStream(bytes), encoding, detectEncodingFromByteOrderMarks: true).ReadToEnd();
        int? retryAfter = int.TryParse(response.Headers.RetryAfter.ToString(), out var seconds) ? seconds : null;
        return new ToolResponse(response.StatusCode, type?.MediaType, retryAfter, body);
    }

    private static string? String(IDictionary<string, JsonElement> arguments, string name) =>
        arguments.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>One tool call as the HTTP request an agent would have sent: method, raw target, body, and what runs it.</summary>
    private sealed record ToolCall(string Method, string RawTarget, byte[]? Body, string? ContentType, Func<HttpContext, Task> Run)
    {
        public HttpContext NewContext(HttpContext incoming, IServiceProvider services, ClaimsPrincipal user, string token,
            string? sessionId, string? approvalId, CancellationToken cancellationToken)
        {
            var context = new DefaultHttpContext { RequestServices = services, User = user, RequestAborted = cancellationToken };
            var request = context.Request;
            request.Protocol = "HTTP/1.1";
            request.Method = Method;
            request.Scheme = incoming.Request.Scheme;
            request.Host = incoming.Request.Host;
            var queryStart = RawTarget.IndexOf('?');
            request.Path = PathString.FromUriComponent(queryStart < 0 ? RawTarget : RawTarget[..queryStart]);
            request.QueryString = queryStart < 0 ? QueryString.Empty : new QueryString(RawTarget[queryStart..]);
            context.Features.Get<IHttpRequestFeature>()!.RawTarget = RawTarget;
            context.Connection.RemoteIpAddress = incoming.Connection.RemoteIpAddress;
            request.Headers.Authorization = token;
            if (sessionId is not null) request.Headers[SessionResolver.SessionHeader] = sessionId;
            if (approvalId is { Length: > 0 }) request.Headers[ApprovalGate.Header] = approvalId;
            context.Features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(Body is not null));
            if (Body is not null)
            {
                request.Body = new MemoryStream(Body, writable: false);
                request.ContentLength = Body.Length;
                request.ContentType = ContentType;
            }
            context.Response.Body = new MemoryStream();
            return context;
        }
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody { get; } = canHaveBody;
    }
}
