using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddPortcullisConfig();
        builder.Services.AddSingleton(services => CompiledPolicy.From(services.GetRequiredService<PortcullisConfig>()));
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<PolicyEvaluator>();

        // What the policy service listens to:
        builder.AddPortcullisBus("policy", bus =>
        {
            bus.AddConsumer<RequestReceivedConsumer>();
        });
        return builder;
    }
}
