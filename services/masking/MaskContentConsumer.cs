using MassTransit;
using Portcullis.Contracts;
using Portcullis.Masking.Detectors;

namespace Portcullis.Masking;

/// <summary>
/// Masks an output for the gateway: answers it with the masked body, and publishes what was masked
/// (counts only) for the audit record.
/// </summary>
public sealed class MaskContentConsumer(ContentMasker masker, DetectorSet detectors, TimeProvider clock)
    : IConsumer<MaskContent>
{
    public async Task Consume(ConsumeContext<MaskContent> context)
    {
        var message = context.Message;
        var tally = new MaskingTally();
        var masked = masker.Mask(message.ContentType, message.Body, tally);

        await context.Publish(new ResponseMasked(
            message.RequestId,
            message.SessionId,
            tally.Counts,
            [.. detectors.Detectors.Select(d => $"detector:{d.Entity.ToLowerInvariant()}")],
            message.Body.LongLength,
            masked.LongLength,
            clock.GetUtcNow()));
        await context.RespondAsync(new ContentMasked(message.RequestId, message.SessionId, masked, tally.Counts));
    }
}
