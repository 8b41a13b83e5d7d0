using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking.Detectors;

namespace Portcullis.Masking;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.AddPortcullisConfig();
        builder.Services.AddSingleton(services => DetectorSet.From(services.GetRequiredService<PortcullisConfig>().Masking));
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
