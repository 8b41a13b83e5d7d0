using MassTransit;
using JasperFx;
using JasperFx.Events;
using Marten;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Health;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Budgets.Ledger;
using Portcullis.Policy.Rules;
using Portcullis.Policy.Simulation;
using Portcullis.Policy.Versions;

namespace Portcullis.Policy;

public static class Extensions
{
    public const string AdminPolicy = "policy-admin";

    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        // Its section of the file is read (and checked) at start-up: a section that does not read stops the service here.
        builder.AddPortcullisConfig().Policy.Read<PolicyConfig>();
        builder.AddPortcullisAuthentication();
        var admins = builder.Configuration["Policy:AdminGroup"] ?? "admins";
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, policy => policy.RequireClaim(AuthenticationExtensions.GroupsClaim, admins));

        builder.AddPostgresReadiness();
        builder.Services.AddMarten(options =>
        {
            options.Connection(builder.Configuration.GetConnectionString("Postgres")!);
            options.DatabaseSchemaName = "policy";
            options.Events.StreamIdentity = StreamIdentity.AsString;
            options.Events.AddEventType<PolicyVersionPublished>();
            options.AutoCreateSchemaObjects = AutoCreate.CreateOrUpdate;
        }).UseLightweightSessions().ApplyAllDatabaseChangesOnStartup();

        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<PolicyProvider>();
        builder.Services.AddSingleton<PolicyVersions>();
        // Made at start-up: the parser library and the function catalogue are loaded before the first request.
        builder.Services.AddSingleton(new SqlStatementAnalyzer());
        // Built and run once at start-up, so the first command to decide does not pay for loading the capability
        // table and compiling the analysis (a decision has a deadline of a few seconds).
        var shell = new ShellCommandAnalyzer();
        shell.Analyze("ls -la ~/x | sort -o /tmp/y && cat /etc/sh?dow ${x:-$(id)} <<EOF\nEOF");
        builder.Services.AddSingleton(shell);
        builder.Services.AddSingleton<PolicyEvaluator>();
        builder.Services.AddSingleton(services => BudgetLedger.Create(builder.Configuration.GetConnectionString("Postgres")!,
            services.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<PolicyTestRunner>();
        builder.Services.AddSingleton<PolicySimulator>();
        // Simulation reads the record from the audit service's export, with the caller's token.
        builder.Services.AddHttpClient<RecordedDecisions>(client =>
        {
            client.BaseAddress = new Uri((builder.Configuration["Policy:AuditServiceUrl"] ?? "http://127.0.0.1:5104").TrimEnd('/') + "/");
            client.Timeout = Timeout.InfiniteTimeSpan; // a long range streams for as long as it takes; the caller's abort ends it
        });
        // Before the bus starts: no request is consumed until a policy version is in force.
        builder.Services.AddHostedService<BudgetLedgerSetup>();
        builder.Services.Configure<BudgetRetentionOptions>(builder.Configuration.GetSection("Budgets"));
        builder.Services.AddHostedService<BudgetLedgerPruning>();
        builder.Services.AddHostedService<PolicyVersionLoader>();

        // What the policy service listens to:
        builder.AddPortcullisBus("policy", bus =>
        {
            bus.AddConsumer<RequestReceivedConsumer>();
            // Budgets are counted from the recorded completions and masking reports.
            bus.AddConsumer<RequestCompletedBudgetConsumer>();
            bus.AddConsumer<ResponseMaskedBudgetConsumer>();
            // Every instance hears every new version, on a queue of its own that goes with it.
            bus.AddConsumer<PolicyPublishedConsumer>().Endpoint(endpoint => endpoint.OnePerInstance());
        });
        return builder;
    }
}
