using MassTransit;
using Portcullis.Contracts;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.Masking.Chunks;

/// <summary>Opens a stream on this instance (any instance may take it) and names this instance's chunk queue.</summary>
public sealed class OpenMaskingStreamConsumer(ContentMasker masker, MaskingStreams streams, MaskingInstance instance, TimeProvider clock)
    : IConsumer<OpenMaskingStream>
{
    public async Task Consume(ConsumeContext<OpenMaskingStream> context)
    {
        var message = context.Message;
        var tally = new MaskingTally();
        var headers = message.Headers is null ? null : masker.MaskHeaders(message.Connection, message.Headers, tally);
        var output = new MemoryStream();
        // An output the masker cannot inspect is refused here, before any chunk is sent.
        var run = masker.Begin(message.Connection, message.ContentType, output, tally);
        streams.Add(new MaskingStream(message, run, output, tally, clock.GetUtcNow()));
        await context.RespondAsync(new MaskingStreamOpened(message.RequestId, message.SessionId,
            ChunkAddress(context.ReceiveContext.InputAddress, instance.ChunkQueue), headers));
    }

    /// <summary>
    /// The chunk queue's full address, beside this endpoint's on the same broker and virtual host. It is
    /// marked temporary so that a sender declares only its exchange: the queue is this instance's alone
    /// (exclusive), and a "queue:" address would try to declare it and be refused.
    /// </summary>
    public static Uri ChunkAddress(Uri inputAddress, string chunkQueue)
    {
        var path = inputAddress.AbsolutePath;
        return new UriBuilder(inputAddress) { Path = path[..(path.LastIndexOf('/') + 1)] + chunkQueue, Query = "temporary=true" }.Uri;
    }
}

/// <summary>
/// Masks one chunk of a stream this instance opened and answers with what it completed; after the final
/// chunk, publishes what was masked (counts only) for the audit record, as for a single message.
/// </summary>
public sealed class MaskChunkConsumer(MaskingStreams streams, TimeProvider clock) : IConsumer<MaskChunk>
{
    public async Task Consume(ConsumeContext<MaskChunk> context)
    {
        var chunk = context.Message;
        var stream = streams.Get(chunk.RequestId);
        byte[] masked;
        try
        {
            lock (stream) masked = stream.Mask(chunk, clock.GetUtcNow());
        }
        catch
        {
            // A chunk that cannot be masked ends the stream: the gateway withholds the whole output.
            streams.Close(chunk.RequestId);
            throw;
        }
        if (!chunk.Final)
        {
            await context.RespondAsync(new ChunkMasked(chunk.RequestId, chunk.SessionId, chunk.Sequence, masked));
            return;
        }
        streams.Close(chunk.RequestId);
        var opened = stream.Opened;
        await context.PublishResponseMasked(opened.RequestId, opened.SessionId, opened.Connection, stream.Tally,
            stream.BytesIn, stream.BytesOut, clock.GetUtcNow());
        await context.RespondAsync(new ChunkMasked(chunk.RequestId, chunk.SessionId, chunk.Sequence, masked, stream.Tally.Counts));
    }
}
