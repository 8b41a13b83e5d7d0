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
        builder.Services.AddMarten(options => ConfigureStore(options, builder.Configuration.GetConnectionString("Postgres")!))
            .UseLightweightSessions().ApplyAllDatabaseChangesOnStartup();
        builder.Services.AddScoped<SessionRecorder>();
        builder.Services.AddScoped<ChainVerifier>();

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

    /// <summary>The audit store: one stream per session, event headers for the hash chain, documents for chain heads and seen messages.</summary>
    public static void ConfigureStore(StoreOptions options, string connectionString)
    {
        options.Connection(connectionString);
        options.DatabaseSchemaName = "audit";
        // One stream per session, keyed by the session id the gateway assigned.
        options.Events.StreamIdentity = StreamIdentity.AsString;
        options.Events.MetadataConfig.HeadersEnabled = true;
        foreach (var type in AuditedEvents.Types) options.Events.AddEventType(type);
        options.Schema.For<SessionChain>().UseOptimisticConcurrency(true);
        options.Schema.For<RecordedMessage>();
        options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
    }
}
