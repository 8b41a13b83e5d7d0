using MassTransit;
using Portcullis.Contracts;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.Masking;

/// <summary>
/// Masks an output for the gateway: answers it with the masked body, and publishes what was masked
/// (counts only) for the audit record.
/// </summary>
public sealed class MaskContentConsumer(ContentMasker masker, Rules.MaskingPolicy policy, TimeProvider clock)
    : IConsumer<MaskContent>
{
    public async Task Consume(ConsumeContext<MaskContent> context)
    {
        var message = context.Message;
        var tally = new MaskingTally();
        // An MCP tool's SQL rows: column rules by the origins policy found, then the detectors over everything.
        var body = message.ColumnOrigins is { Count: > 0 } origins
            ? McpColumnRules.Apply(policy, message.Connection, message.Body, origins, tally)
            : message.Body;
        var masked = masker.Mask(message.Connection, message.ContentType, body, tally);
        var headers = message.Headers is null ? null : masker.MaskHeaders(message.Connection, message.Headers, tally);

        await context.PublishResponseMasked(message.RequestId, message.SessionId, message.Connection, tally,
            message.Body.LongLength, masked.LongLength, clock.GetUtcNow());
        await context.RespondAsync(new ContentMasked(message.RequestId, message.SessionId, masked, tally.Counts, headers));
    }
}
