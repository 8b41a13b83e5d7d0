using MassTransit;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.Masking.Values;

/// <summary>What masking tells the audit about one output, whether it came whole or in chunks.</summary>
public static class MaskingReport
{
    /// <summary>
    /// Publishes <see cref="ResponseMasked"/>: the tally's counts by entity and by rule, never a value. One per
    /// request, whatever the number of deliveries (its message id is the request's), so the audit keeps one copy.
    /// </summary>
    public static Task PublishResponseMasked(this ConsumeContext context, Guid requestId, string sessionId, string connection,
        MaskingTally tally, long inputBytes, long outputBytes, DateTimeOffset maskedAt)
    {
        foreach (var (entity, count) in tally.Counts)
            PortcullisMetrics.ValuesMasked.Add(count, new("entity", entity), new("connection", connection));
        return context.Publish(new ResponseMasked(
                requestId,
                sessionId,
                tally.Counts,
                [.. tally.Rules.Keys.Order(StringComparer.Ordinal)],
                inputBytes,
                outputBytes,
                maskedAt,
                tally.Rules,
                connection),
            publish => publish.MessageId = EventMessageId.For<ResponseMasked>(requestId));
    }
}
