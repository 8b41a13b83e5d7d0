using JasperFx;
using JasperFx.Events;
using Marten;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Health;

namespace Portcullis.Audit;

public static class Extensions
{
    public const string AuditorPolicy = "auditor";

    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddPostgresReadiness();
        builder.Services.AddMarten(options =>
        {
            options.Connection(builder.Configuration.GetConnectionString("Postgres")!);
            options.DatabaseSchemaName = "audit";
            // One stream per session, keyed by the session id the gateway assigned.
            options.Events.StreamIdentity = StreamIdentity.AsString;
            foreach (var type in AuditedEvents.Types) options.Events.AddEventType(type);
            options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
        }).UseLightweightSessions().ApplyAllDatabaseChangesOnStartup();
        builder.Services.AddScoped<SessionRecorder>();

        builder.AddPortcullisAuthentication();
        var auditors = builder.Configuration["Audit:AuditorGroup"] ?? "auditors";
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AuditorPolicy, policy => policy.RequireClaim(AuthenticationExtensions.GroupsClaim, auditors));

        // What the audit service listens to: every event of the request saga.
        builder.AddPortcullisBus("audit", bus =>
        {
            bus.AddConsumer<SessionEventConsumer>(typeof(SessionEventConsumerDefinition));
        });
        return builder;
    }
}
