using MassTransit;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Health;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.Apis;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Gateway.Connectors.Ssh;
using Portcullis.Gateway.HttpProxy;
using Portcullis.Gateway.Mcp;
using Portcullis.Gateway.Recording;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Sessions;

namespace Portcullis.Gateway;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        var config = builder.AddPortcullisConfig();
        builder.AddPortcullisMcp();
        builder.AddPortcullisAuthentication();
        builder.Services.Configure<GatewayOptions>(builder.Configuration.GetSection("Gateway"));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SessionResolver>();
        // Session owners and sequence numbers, shared by every gateway instance (schema "gateway").
        builder.AddPostgresReadiness();
        builder.Services.AddSingleton(services => ActivatorUtilities.CreateInstance<SessionLedger>(services,
            builder.Configuration.GetConnectionString("Postgres")!,
            services.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value.DecisionTimeout));
        builder.Services.AddHostedService<SessionTableSetup>();
        builder.Services.AddSingleton<AgentResponses>();
        builder.Services.AddSingleton<AgentRequestFlow>();
        builder.Services.AddSingleton<ApprovalWaiters>();
        builder.Services.AddSingleton<ApprovalGate>();
        builder.Services.AddSingleton<ResponseMaskingTransform>();
        // Strict recording: agent actions are refused while the audit trail is not keeping up.
        builder.Services.Configure<AuditRecordingOptions>(builder.Configuration.GetSection("Gateway"));
        builder.Services.AddSingleton<AuditRecordingMonitor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<AuditRecordingMonitor>());
        builder.Services.AddHealthChecks().Add(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckRegistration("audit-recording",
            services => services.GetRequiredService<AuditRecordingMonitor>(),
            Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, [Portcullis.Defaults.Health.HealthExtensions.ReadyTag]));
        builder.Services.AddSingleton<SecretResolver>();
        builder.Services.AddSingleton<ColumnOrigins>();
        builder.Services.AddSingleton<MaskedViews>();
        builder.Services.AddSingleton<PostgresConnector>();
        builder.Services.AddSingleton<SshConnector>();

        // What is a proxy is a YARP route: each http connection, and the approval status the agent is pointed to.
        var (routes, clusters) = HttpConnectionRoutes.Build(config);
        var (statusRoute, approvalService) = ApprovalStatusRoute.Build(
            builder.Configuration.GetSection("Gateway").Get<GatewayOptions>() ?? new GatewayOptions());
        builder.Services.AddReverseProxy()
            .LoadFromMemory([.. routes, statusRoute], [.. clusters, approvalService])
            .AddTransforms<ConnectionTransforms>();

        // The gateway asks (request clients) and publishes; it hears approvers' decisions on a queue of its own.
        builder.AddPortcullisBus("gateway", bus =>
        {
            bus.AddRequestClient<RequestReceived>();
            bus.AddRequestClient<MaskContent>();
            bus.AddRequestClient<OpenMaskingStream>();
            bus.AddRequestClient<RequestApproval>();
            bus.AddRequestClient<ClaimApproval>();
            bus.AddConsumer<ApprovalDecisionConsumer>().Endpoint(endpoint =>
            {
                // One queue per instance (every instance hears every message), removed when the instance goes.
                endpoint.Temporary = true;
                endpoint.InstanceId = "-" + NewId.NextGuid().ToString("N")[..12];
            });
        });
        return builder;
    }

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
        app.Map("/http/{connection}/{**rest}", (string connection, AgentResponses responses, HttpContext context) =>
                responses.UnknownConnection(context, connection))
            .RequireAuthorization();
        return app;
    }
}
