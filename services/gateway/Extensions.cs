using MassTransit;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Health;
using Portcullis.Defaults.OpenApi;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.Apis;
using Portcullis.Gateway.Connectors.Mcp;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Gateway.Connectors.Ssh;
using Portcullis.Gateway.HttpProxy;
using Portcullis.Gateway.Mcp;
using Portcullis.Gateway.PostgresWire;
using Portcullis.Gateway.Recording;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Sessions;

namespace Portcullis.Gateway;

public static class Extensions
{
    /// <summary>
    /// Everything the gateway adds, in the order a request meets it: the request flow (sessions, recording, the
    /// approval gate, the answers), the connectors, the proxy routes, MCP; then what it sends and consumes on the bus.
    /// </summary>
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        var config = builder.AddPortcullisConfig();
        builder.AddPortcullisMcp(); // before authentication: it names the protected resource metadata path
        builder.AddPortcullisAuthentication();
        builder.Services.AddOptions<GatewayOptions>().Bind(builder.Configuration.GetSection("Gateway"))
            .Validate(o => o.PublicUrl is null || Uri.TryCreate(o.PublicUrl, UriKind.Absolute, out var url)
                           && url.Scheme is "http" or "https" && url.Query.Length == 0 && url.Fragment.Length == 0,
                "Gateway:PublicUrl must be an absolute http(s) URL without query or fragment")
            .ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.AddRequestFlow();
        builder.AddConnectors(config);
        builder.AddProxyRoutes(config);
        builder.AddPostgresWire(); // the PostgreSQL port, when PostgresWire:Port is set
        builder.AddMessaging();
        builder.Services.Configure<OpenApiOptions>(OpenApiDefaults.DocumentName, o => o.AddDocumentTransformer<ProxyRoutesDocument>());
        return builder;
    }

    private static void AddRequestFlow(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<SessionResolver>();
        // Session owners and sequence numbers, shared by every gateway instance (schema "gateway").
        builder.AddPostgresReadiness();
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<SessionLedger>(services,
            builder.Configuration.GetConnectionString("Postgres")!,
            services.GetRequiredService<IOptions<GatewayOptions>>().Value.DecisionTimeout));
        builder.Services.AddHostedService<SessionTableSetup>();
        // Sequence numbers spent on refused requests, relayed to the audit once the broker takes them (an outbox).
        builder.Services.AddHostedService<VoidedSequenceRelay>();
        builder.Services.AddSingleton<AgentResponses>();
        builder.Services.AddSingleton<AgentRequestFlow>();
        builder.Services.AddSingleton<ApprovalWaiters>();
        builder.Services.AddSingleton<ApprovalGate>();
        // Strict recording: agent actions are refused while the audit trail is not keeping up.
        builder.Services.Configure<AuditRecordingOptions>(builder.Configuration.GetSection("Gateway"));
        builder.Services.AddSingleton<AuditRecordingMonitor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<AuditRecordingMonitor>());
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration("audit-recording",
            services => services.GetRequiredService<AuditRecordingMonitor>(), HealthStatus.Unhealthy, [HealthExtensions.ReadyTag]));
    }

    private static void AddConnectors(this IHostApplicationBuilder builder, PortcullisConfig config)
    {
        // The columns the masking rules mask by origin, read at start-up: views over them are refused.
        builder.Services.AddSingleton(MaskedColumnRules.From(config));
        builder.Services.AddSingleton<ColumnOrigins>();
        builder.Services.AddSingleton<MaskedViews>();
        builder.Services.AddSingleton<PostgresConnector>();
        builder.Services.AddSingleton<SshConnector>();
        builder.Services.AddSingleton<McpUpstreams>();
        // Pinned MCP tool definitions, shared by every gateway instance (schema "gateway").
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<McpToolPins>(services,
            builder.Configuration.GetConnectionString("Postgres")!));
    }

    /// <summary>What is a proxy is a YARP route: each http connection, and the approval status agents are pointed to.</summary>
    private static void AddProxyRoutes(this IHostApplicationBuilder builder, PortcullisConfig config)
    {
        var (routes, clusters) = HttpConnectionRoutes.Build(config);
        var (statusRoute, approvalService) = ApprovalStatusRoute.Build(
            builder.Configuration.GetSection("Gateway").Get<GatewayOptions>() ?? new GatewayOptions());
        builder.Services.AddSingleton<ResponseMaskingTransform>();
        builder.Services.AddReverseProxy()
            .LoadFromMemory([.. routes, statusRoute], [.. clusters, approvalService])
            .AddTransforms<ConnectionTransforms>();
    }

    /// <summary>The gateway asks (request clients) and publishes; it hears approvers' decisions on a queue of its own.</summary>
    private static void AddMessaging(this IHostApplicationBuilder builder) =>
        builder.AddPortcullisBus("gateway", bus =>
        {
            // Sends, and waits for the answer.
            bus.AddRequestClient<RequestReceived>();
            bus.AddRequestClient<MaskContent>();
            bus.AddRequestClient<OpenMaskingStream>();
            bus.AddRequestClient<RequestApproval>();
            bus.AddRequestClient<ClaimApproval>();
            // Consumes: McpToolDefinitionAccepted (an admin accepted a changed MCP tool; one instance records it).
            bus.AddConsumer<McpToolDefinitionAcceptedConsumer>();
            // Consumes: ApprovalGranted, ApprovalDenied, ApprovalExpired.
            bus.AddConsumer<ApprovalDecisionConsumer>().Endpoint(endpoint => endpoint.OnePerInstance());
        });

    public static WebApplication MapAgentEndpoints(this WebApplication app)
    {
        // What an upstream answers is masked and recorded as it is: no problem body is added to its bare 4xx.
        app.MapReverseProxy(proxy =>
            {
                proxy.UseMiddleware<AgentRequestGuard>();
                proxy.Use(ApprovalStatusRoute.UnavailableWhenSilent);
            })
            .ConfigureEndpoints((endpoint, route) =>
            {
                if (route.Metadata?.ContainsKey(HttpConnectionRoutes.ConnectionMetadata) == true)
                    endpoint.WithMetadata(new Microsoft.AspNetCore.Mvc.SkipStatusCodePagesAttribute());
            });
        app.MapConnectorApis();
        app.MapPortcullisMcp();
        // Any /http/{connection} that no route claims: the connection does not exist.
        app.Map("/http/{connection}/{**path}", (string connection, AgentResponses responses, HttpContext context) =>
                responses.UnknownConnection(context, connection))
            .RequireAuthorization();
        return app;
    }
}
