using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy;

public static class Extensions
{
    public const string AdminPolicy = "policy-admin";

    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddPortcullisAuthentication();
        var admins = builder.Configuration["Policy:AdminGroup"] ?? "admins";
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, policy => policy.RequireClaim(AuthenticationExtensions.GroupsClaim, admins));

        builder.AddPortcullisConfig();
        builder.Services.AddSingleton(services => new PolicyProvider(CompiledPolicy.From(services.GetRequiredService<PortcullisConfig>())));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<SqlStatementAnalyzer>();
        builder.Services.AddSingleton<ShellCommandAnalyzer>();
        builder.Services.AddSingleton<PolicyEvaluator>();

        // What the policy service listens to:
        builder.AddPortcullisBus("policy", bus =>
        {
            bus.AddConsumer<RequestReceivedConsumer>();
        });
        return builder;
    }
}
