using Dapr.Client;
using JasperFx;
using JasperFx.OpenTelemetry;
using Marten;
using MassTransit;
using MassTransit.Configuration;
using MassTransit.Saga;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Portcullis.Approval.Console;
using Portcullis.Approval.Notifications;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Health;

namespace Portcullis.Approval;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.Configure<ApprovalOptions>(builder.Configuration.GetSection("Approval"));
        builder.Services.Configure<NotificationOptions>(builder.Configuration.GetSection("Notifications"));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddHttpClient(nameof(ApprovalNotifier), client => client.Timeout = TimeSpan.FromSeconds(10));
        builder.Services.AddSingleton(_ => new Lazy<DaprClient>(() => new DaprClientBuilder().Build()));

        builder.AddPostgresReadiness();
        builder.Services.AddMarten(options => ConfigureStore(options, builder.Configuration.GetConnectionString("Postgres")!))
            .UseLightweightSessions().ApplyAllDatabaseChangesOnStartup();

        builder.AddPortcullisAuthentication();
        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddConsoleSignIn(builder.Configuration);
        builder.Services.AddAntiforgery();
        builder.Services.AddScoped<ApprovalQueries>();
        builder.Services.AddScoped<ApprovalIntake>();
        builder.Services.AddHostedService<ApprovalExpirySweep>();
        // Marten generates the approval's storage code and compiles each query on first use: done here, before the
        // service reports ready, a restarted approval service answers the gateway's first approvals in time.
        builder.AddWarmUp("approval store", async (services, cancellationToken) =>
        {
            var queries = services.GetRequiredService<ApprovalQueries>();
            var nobody = new Principal("warm-up", null, []);
            await queries.VisibleOne(Guid.Empty, nobody, cancellationToken);
            await queries.Visible(nobody, ApprovalStates.Pending, cancellationToken);
            await queries.OpenGrantsCovering(new ApprovableRequest(Guid.Empty, "warm-up", nobody,
                new AgentAction("http", "warm-up"), null), DateTimeOffset.UtcNow, cancellationToken);
        });

        // What the approval service listens to: the gateway's requests for approval, and the saga's commands.
        builder.AddPortcullisBus("approval", bus =>
        {
            bus.AddConsumer<RequestApprovalConsumer>();
            bus.AddConsumer<ApprovalNotifier>(typeof(ApprovalNotifierDefinition));
            bus.AddSagaStateMachine<ApprovalStateMachine, ApprovalState>(typeof(ApprovalStateMachineDefinition))
                .Repository(repository => repository.RegisterSagaRepository<ApprovalState, IDocumentSession,
                    SagaConsumeContextFactory<IDocumentSession, ApprovalState>, MartenSagaRepositoryContextFactory<ApprovalState>>());
        });
        return builder;
    }

    /// <summary>The approval store: saga documents in schema "approval", with optimistic concurrency.</summary>
    public static void ConfigureStore(StoreOptions options, string connectionString)
    {
        options.Connection(connectionString);
        options.DatabaseSchemaName = "approval";
        options.OpenTelemetry.TrackConnections = TrackLevel.Normal; // a span per connection's use, when tracing is on
        options.Schema.For<ApprovalState>()
            .Identity(a => a.CorrelationId)
            .UseOptimisticConcurrency(true)
            .Index(a => a.CurrentState)
            .Index(a => a.RequesterSubject);
        options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
    }
}

/// <summary>Retries notifications that fail (webhook down, sidecar not ready) with growing pauses.</summary>
public sealed class ApprovalNotifierDefinition : ConsumerDefinition<ApprovalNotifier>
{
    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint, IConsumerConfigurator<ApprovalNotifier> consumer,
        IRegistrationContext context) =>
        endpoint.UseMessageRetry(retry => retry.Exponential(6, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30),
            TimeSpan.FromMilliseconds(500)));
}
