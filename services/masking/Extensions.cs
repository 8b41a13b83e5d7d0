using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using System.Text;
using Portcullis.Defaults.Secrets;
using Portcullis.Masking.Rules;

namespace Portcullis.Masking;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        var config = builder.AddPortcullisConfig();
        builder.Services.AddSingleton<SecretResolver>();
        builder.Services.AddSingleton(services =>
        {
            // The hash key is resolved once at start-up: without it, a policy that hashes does not start.
            var key = config.Masking.HashKey is { } reference
                ? Encoding.UTF8.GetBytes(services.GetRequiredService<SecretResolver>().ResolveAsync(reference, CancellationToken.None).GetAwaiter().GetResult())
                : null;
            return MaskingPolicy.From(config.Masking, key);
        });
        builder.Services.AddSingleton<ContentMasker>();
        builder.Services.AddSingleton(TimeProvider.System);

        // What the masking service listens to:
        builder.AddPortcullisBus("masking", bus =>
        {
            bus.AddConsumer<MaskContentConsumer>();
        });
        return builder;
    }
}
