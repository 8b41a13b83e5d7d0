using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Protocol;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// <c>/mcp</c> (Streamable HTTP) behind the same bearer tokens as every other endpoint, and the OAuth protected
/// resource metadata (RFC 9728) that points MCP clients at the OpenID provider. The MCP session id is the
/// audit session of every tool call made in it. The tools are <see cref="McpToolCatalog"/>; a call runs in process
/// through the request flow (<see cref="McpToolCalls"/>) and its answer becomes a tool result (<see cref="McpToolAnswers"/>).
/// </summary>
public static class McpEndpoint
{
    public const string MetadataPath = "/.well-known/oauth-protected-resource";

    public static IHostApplicationBuilder AddPortcullisMcp(this IHostApplicationBuilder builder)
    {
        builder.Configuration["Auth:ResourceMetadataPath"] ??= MetadataPath + "/mcp";
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddSingleton<McpToolCatalog>();
        builder.Services.AddSingleton<McpToolCalls>();
        builder.Services.AddSingleton<McpProxiedTools>();
        builder.Services.AddSingleton<McpProxiedResources>();
        builder.Services.AddMcpServer(server =>
            {
                server.ServerInfo = new Implementation { Name = "portcullis", Title = "Portcullis gateway", Version = "1.0.0" };
                // Upstream MCP servers' tools come and go (and change): clients are told (notifications/tools/list_changed).
                // Upstream resources and prompts are listed too (prefixed), and read through the same checks as tool calls.
                server.Capabilities = new ServerCapabilities
                {
                    Tools = new ToolsCapability { ListChanged = true },
                    Resources = new ResourcesCapability(),
                    Prompts = new PromptsCapability(),
                };
                server.ServerInstructions =
                    "Every tool call crosses Portcullis: it is checked against policy, may wait for a human's approval, runs with " +
                    "credentials you never see, and its output is masked and recorded. A refused call says which rule refused it " +
                    "and why; a call waiting for approval says how to retry it.";
            })
            .WithHttpTransport(transport =>
            {
                // One agent run is one audit session, keyed by the MCP session id. The 2026-07-28 revision dropped
                // sessions; Stateful makes dual-path clients fall back to the initialize handshake and get one.
                // Mcp:SessionMode=StatefulForInitializeClients serves new clients statelessly instead, and their
                // calls are then recorded under X-Session-Id, the token's sid, or one session per token.
                transport.SessionMode = builder.Configuration.GetValue("Mcp:SessionMode", HttpServerSessionMode.Stateful);
            })
            .WithListToolsHandler(async (context, cancellationToken) =>
            {
                var catalog = context.Services!.GetRequiredService<McpToolCatalog>();
                var result = catalog.List(context.User);
                // The upstream MCP servers' tools, as {connection}.{tool}; the session hears when they change.
                var proxied = context.Services!.GetRequiredService<McpProxiedTools>();
                proxied.Listen(context.Server);
                foreach (var tool in await proxied.ListAsync(context.User, catalog.Visible(context.User).Keys, cancellationToken))
                    result.Tools.Add(tool);
                return result;
            })
            .WithCallToolHandler((context, cancellationToken) => new ValueTask<CallToolResult>(
                context.Services!.GetRequiredService<McpToolCalls>().CallAsync(context.User, context.Server.SessionId,
                    context.Params!.Name, context.Params.Arguments, cancellationToken,
                    context.Params.ProgressToken is { } progressToken ? new McpProgressRelay(context.Server, progressToken) : null)))
            .WithListResourcesHandler(async (context, cancellationToken) => new ListResourcesResult
            {
                Resources = await Proxied(context).ResourcesAsync(context.User, Visible(context), cancellationToken),
            })
            .WithListResourceTemplatesHandler(async (context, cancellationToken) => new ListResourceTemplatesResult
            {
                ResourceTemplates = await Proxied(context).ResourceTemplatesAsync(context.User, Visible(context), cancellationToken),
            })
            .WithReadResourceHandler(async (context, cancellationToken) =>
                await context.Services!.GetRequiredService<McpToolCalls>().ReadResourceAsync(context.User, context.Server.SessionId,
                    context.Params!.Uri, ApprovalId(context.Params.Meta), cancellationToken))
            .WithListPromptsHandler(async (context, cancellationToken) => new ListPromptsResult
            {
                Prompts = await Proxied(context).PromptsAsync(context.User, Visible(context), cancellationToken),
            })
            .WithGetPromptHandler(async (context, cancellationToken) =>
                await context.Services!.GetRequiredService<McpToolCalls>().GetPromptAsync(context.User, context.Server.SessionId,
                    context.Params!.Name, context.Params.Arguments, cancellationToken));
        return builder;
    }

    private static McpProxiedResources Proxied<T>(ModelContextProtocol.Server.RequestContext<T> context) =>
        context.Services!.GetRequiredService<McpProxiedResources>();

    private static IEnumerable<string> Visible<T>(ModelContextProtocol.Server.RequestContext<T> context) =>
        context.Services!.GetRequiredService<McpToolCatalog>().Visible(context.User).Keys;

    /// <summary>A resource read has no arguments: a granted approval is claimed by <c>_meta.approval_id</c>.</summary>
    private static string? ApprovalId(System.Text.Json.Nodes.JsonObject? meta) =>
        meta?[Apis.McpProxyApi.ApprovalIdArgument] is System.Text.Json.Nodes.JsonValue value && value.TryGetValue<string>(out var id) ? id : null;

    public static WebApplication MapPortcullisMcp(this WebApplication app)
    {
        app.MapMcp("/mcp").RequireAuthorization();
        // RFC 9728: at the well-known path, and with the resource's path appended (what MCP clients ask for first).
        foreach (var path in new[] { MetadataPath, MetadataPath + "/mcp" })
            app.MapGet(path, Metadata).WithTags("MCP").WithSummary("OAuth protected resource metadata (RFC 9728)")
                .WithDescription("Where an MCP client learns which OpenID provider issues tokens for /mcp.")
                .Produces<Dictionary<string, object?>>();
        return app;
    }

    private static IResult Metadata(HttpContext context, IConfiguration configuration) => Results.Json(new Dictionary<string, object?>
    {
        // Never from the request's Host (a forged Host would point clients elsewhere): Gateway:PublicUrl, else relative.
        ["resource"] = $"{configuration["Gateway:PublicUrl"]?.TrimEnd('/')}/mcp",
        ["authorization_servers"] = new[] { configuration["Auth:Authority"]!.TrimEnd('/') + "/" },
        ["bearer_methods_supported"] = new[] { "header" },
        ["resource_name"] = "Portcullis gateway",
    });
}
