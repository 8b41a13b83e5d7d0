using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Configuration;
using System.Text;
using Portcullis.Defaults.Secrets;
using Portcullis.Masking.Chunks;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;

namespace Portcullis.Masking;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        // Read (and checked) at start-up: a masking section that does not read stops the service here.
        var masking = builder.AddPortcullisConfig().Masking.Read<MaskingConfig>();
        builder.Services.AddSingleton(services =>
        {
            // The hash key is resolved once at start-up: without it, a policy that hashes does not start.
            var key = masking.HashKey is { } reference
                ? Encoding.UTF8.GetBytes(services.GetRequiredService<SecretResolver>().ResolveAsync(reference, CancellationToken.None).GetAwaiter().GetResult())
                : null;
            return MaskingPolicy.From(masking, key);
        });
        builder.Services.AddSingleton<ContentMasker>();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<MaskingStreams>();
        var instance = new MaskingInstance("masking-chunks-" + MassTransit.NewId.NextGuid().ToString("N")[..12]);
        builder.Services.AddSingleton(instance);

        // What the masking service listens to: whole outputs and stream openings on shared queues (any
        // instance), the chunks of the streams it opened on a queue of its own, removed when it goes.
        builder.AddPortcullisBus("masking", bus =>
        {
            bus.AddConsumer<MaskContentConsumer>();
            bus.AddConsumer<OpenMaskingStreamConsumer>();
            bus.AddConsumer<MaskChunkConsumer>().Endpoint(endpoint => endpoint.OnePerInstance(instance.ChunkQueue));
        });
        return builder;
    }
}
