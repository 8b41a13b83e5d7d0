using JasperFx;
using JasperFx.Events;
using JasperFx.OpenTelemetry;
using Marten;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Portcullis.Audit.Progress;
using Portcullis.Audit.Projections;
using Portcullis.Audit.Recording;
using Portcullis.Audit.Retention;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Portcullis.Defaults.Health;

namespace Portcullis.Audit;

public static class Extensions
{
    public const string AuditorPolicy = "auditor";

    /// <summary>Events per page of the projection daemon (Audit:ProjectionBatchSize); Marten's own default, 500, left long sessions' timelines seconds behind a sustained run.</summary>
    public const int DefaultProjectionBatchSize = 5000;

    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddPostgresReadiness();
        var appendMode = builder.Configuration.GetValue("Audit:AppendMode", EventAppendMode.Quick);
        var projectionBatch = builder.Configuration.GetValue("Audit:ProjectionBatchSize", DefaultProjectionBatchSize);
        // Every commit of the store is watched, for the progress the audit reports to the gateways.
        var commits = new AuditCommitWatch(TimeProvider.System);
        builder.Services.AddSingleton(commits);
        builder.Services.AddMarten(options =>
            {
                ConfigureStore(options, builder.Configuration.GetConnectionString("Postgres")!, appendMode, projectionBatch);
                options.Listeners.Add(commits);
            })
            .UseLightweightSessions().ApplyAllDatabaseChangesOnStartup()
            // The projections (session timelines, identity activity, decision statistics), on one node at a time.
            // Audit:Projections=Disabled leaves them to other audit nodes, so an ingest node spends its CPU on ingest.
            .AddAsyncDaemon(builder.Configuration.GetValue("Audit:Projections", DaemonMode.HotCold));
        builder.Services.AddScoped<ChainVerifier>();
        builder.Services.Configure<RetentionOptions>(builder.Configuration.GetSection("Audit"));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SessionArchiver>();
        builder.Services.AddHostedService<RetentionSweep>();

        builder.AddPortcullisAuthentication();
        var auditors = builder.Configuration["Audit:AuditorGroup"] ?? "auditors";
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AuditorPolicy, policy => policy.RequireClaim(AuthenticationExtensions.GroupsClaim, auditors));

        // What the audit service listens to: every event of the request saga, read in delivery order.
        builder.Services.Configure<IngestOptions>(builder.Configuration.GetSection("Audit"));
        builder.Services.AddSingleton<AuditIngestor>();
        builder.Services.AddHostedService(services => services.GetRequiredService<AuditIngestor>());
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration("audit-ingest",
            services => services.GetRequiredService<AuditIngestor>(), HealthStatus.Unhealthy, ["ready"]));
        // Its heartbeat: whether it records and how far behind it is, for the gateways' strict recording.
        builder.Services.AddHostedService<AuditProgressReporter>();
        builder.Services.AddHostedService<ProjectionLagWatch>();
        return builder;
    }

    /// <summary>The audit store: one stream per session, event headers for the hash chain, documents for chain heads, a table of seen message ids.</summary>
    public static void ConfigureStore(StoreOptions options, string connectionString, EventAppendMode appendMode = EventAppendMode.Quick,
        int projectionBatch = DefaultProjectionBatchSize)
    {
        // Marten opens and returns a pooled connection several times per batch; resetting each one (DISCARD ALL)
        // cost a statement apiece, and the store sets no session state that would outlive its use.
        options.Connection(new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { NoResetOnClose = true }.ConnectionString);
        options.DatabaseSchemaName = "audit";
        // A span per connection's use, for traces (exported only when tracing is on; SQL text never leaves, see SpanScrubber).
        options.OpenTelemetry.TrackConnections = TrackLevel.Normal;
        // One stream per session, keyed by the session id the gateway assigned.
        options.Events.StreamIdentity = StreamIdentity.AsString;
        options.Events.MetadataConfig.HeadersEnabled = true;
        // Quick (the default) appends in one server-side function per stream, without first reading the
        // streams' versions: the ingest's order and exactly-once come from the single consumer and the message
        // ids, not from expected versions. Timestamps are the database's. The projections are all async, so
        // the metadata Quick mode leaves out of inline projections is not missed. Rich is kept to measure against.
        options.Events.AppendMode = appendMode;
        foreach (var type in AuditedEvents.Types) options.Events.AddEventType(type);
        options.Events.AddEventType<SessionArchived>(); // the audit's own record of retention
        options.Events.AddEventType<EventQuarantined>(); // the audit's own record of an event it set aside
        options.Schema.For<SessionChain>().UseOptimisticConcurrency(true);
        options.Storage.ExtendedSchemaObjects.Add(RecordedMessages.Table());
        // Each page of events the daemon applies loads and rewrites every document it touches, a session's whole
        // timeline included, so the page size divides the cost of keeping long sessions' timelines.
        void Page(AsyncOptions async) => (async.BatchSize, async.MaximumHopperSize) = (projectionBatch, projectionBatch * 2);
        options.Projections.Add<SessionTimelineProjection>(ProjectionLifecycle.Async, Page);
        options.Projections.Add<IdentityActivityProjection>(ProjectionLifecycle.Async, Page);
        options.Projections.Add<DecisionStatisticsProjection>(ProjectionLifecycle.Async, Page);
        options.Schema.For<SessionTimeline>().Index(t => t.Subject).Index(t => t.LastAt);
        options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
    }
}
