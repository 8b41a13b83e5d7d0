using System.Collections.Concurrent;
using Portcullis.Contracts;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.Masking.Chunks;

/// <summary>This instance's own queue for the chunks of the streams it opened.</summary>
public sealed record MaskingInstance(string ChunkQueue);

/// <summary>One output being masked chunk by chunk: its masker's state, what was found so far, and the next chunk expected.</summary>
public sealed class MaskingStream(OpenMaskingStream opened, IMaskingRun run, MemoryStream output, MaskingTally tally, DateTimeOffset now)
    : IDisposable
{
    public OpenMaskingStream Opened => opened;
    public MaskingTally Tally => tally;
    public int NextSequence { get; private set; }
    public long BytesIn { get; private set; }
    public long BytesOut { get; private set; }
    public DateTimeOffset LastUsed { get; private set; } = now;

    /// <summary>Masks the chunk and returns what it completed of the output.</summary>
    public byte[] Mask(MaskChunk chunk, DateTimeOffset now)
    {
        if (chunk.Sequence != NextSequence)
            throw new InvalidOperationException($"Chunk {chunk.Sequence} of request {chunk.RequestId} arrived where chunk {NextSequence} was expected.");
        NextSequence++;
        LastUsed = now;
        BytesIn += chunk.Bytes.LongLength;
        run.Write(chunk.Bytes);
        if (chunk.Final) run.Complete();
        var masked = output.ToArray();
        output.SetLength(0);
        BytesOut += masked.LongLength;
        return masked;
    }

    public void Dispose() => run.Dispose();
}

/// <summary>
/// The streams this instance is masking. A stream idle longer than <see cref="IdleLimit"/> is dropped when
/// the next one opens (its gateway gave up long before), so abandoned state does not pile up.
/// </summary>
public sealed class MaskingStreams(TimeProvider clock)
{
    public static readonly TimeSpan IdleLimit = TimeSpan.FromMinutes(2);

    private readonly ConcurrentDictionary<Guid, MaskingStream> _streams = new();

    public int Count => _streams.Count;

    public void Add(MaskingStream stream)
    {
        var now = clock.GetUtcNow();
        foreach (var (id, idle) in _streams)
            if (now - idle.LastUsed > IdleLimit && _streams.TryRemove(id, out var dropped)) dropped.Dispose();
        if (!_streams.TryAdd(stream.Opened.RequestId, stream))
            throw new InvalidOperationException($"A masking stream for request {stream.Opened.RequestId} is already open.");
    }

    public MaskingStream Get(Guid requestId) => _streams.TryGetValue(requestId, out var stream)
        ? stream
        : throw new InvalidOperationException($"No masking stream is open for request {requestId} here (it ended, expired, or this instance restarted).");

    public void Close(Guid requestId)
    {
        if (_streams.TryRemove(requestId, out var stream)) stream.Dispose();
    }
}
