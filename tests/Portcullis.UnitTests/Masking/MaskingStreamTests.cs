using System.Text;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;
using Portcullis.Masking.Chunks;
using Portcullis.Masking.Rules;

namespace Portcullis.UnitTests.Masking;

/// <summary>The masking service's bookkeeping for outputs sent in chunks: order, what each chunk completes, idle streams.</summary>
public class MaskingStreamTests
{
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), null));

    private static MaskingStream Open(Guid id, DateTimeOffset now)
    {
        var output = new MemoryStream();
        var tally = new MaskingTally();
        var opened = new OpenMaskingStream(id, "s", "demo", "application/json");
        return new MaskingStream(opened, Masker.Begin("demo", "application/json", output, tally), output, tally, now);
    }

    private static MaskChunk Chunk(Guid id, int sequence, string text, bool final = false) =>
        new(id, "s", sequence, Encoding.UTF8.GetBytes(text), final);

    [Fact]
    public void Each_chunk_answers_with_the_output_it_completed_and_the_last_with_the_rest()
    {
        var id = Guid.NewGuid();
        using var stream = Open(id, DateTimeOffset.UnixEpoch);
        // What lies between tokens goes out with the token after it; "x" waits for what follows it (a value split
        // across the two would show only then), and goes out once the next value ends in a mask.
        Assert.Equal("[", Encoding.UTF8.GetString(stream.Mask(Chunk(id, 0, """["x","ada@exa"""), DateTimeOffset.UnixEpoch)));
        Assert.Equal("\"x\",\"[EMAIL]\"", Encoding.UTF8.GetString(stream.Mask(Chunk(id, 1, "mple.com\""), DateTimeOffset.UnixEpoch)));
        Assert.Equal("]", Encoding.UTF8.GetString(stream.Mask(Chunk(id, 2, "]", final: true), DateTimeOffset.UnixEpoch)));
        Assert.Equal(1, stream.Tally.Counts["EMAIL"]);
        Assert.Equal(("""["x","ada@example.com"]""".Length, """["x","[EMAIL]"]""".Length), (stream.BytesIn, stream.BytesOut));
    }

    [Fact]
    public void A_chunk_out_of_order_is_refused()
    {
        var id = Guid.NewGuid();
        using var stream = Open(id, DateTimeOffset.UnixEpoch);
        stream.Mask(Chunk(id, 0, "[1,"), DateTimeOffset.UnixEpoch);
        var error = Assert.Throws<InvalidOperationException>(() => stream.Mask(Chunk(id, 2, "2]"), DateTimeOffset.UnixEpoch));
        Assert.Contains("chunk 1 was expected", error.Message);
    }

    [Fact]
    public void A_stream_idle_past_the_limit_is_dropped_when_another_opens_and_an_unknown_one_is_refused()
    {
        var clock = new Clock(DateTimeOffset.UnixEpoch);
        var streams = new MaskingStreams(clock);
        var (idle, busy) = (Guid.NewGuid(), Guid.NewGuid());
        streams.Add(Open(idle, clock.Now));
        clock.Now += MaskingStreams.IdleLimit + TimeSpan.FromSeconds(1);
        streams.Add(Open(busy, clock.Now));
        Assert.Equal(1, streams.Count);
        Assert.Same(streams.Get(busy), streams.Get(busy));
        var error = Assert.Throws<InvalidOperationException>(() => streams.Get(idle));
        Assert.Contains("No masking stream is open", error.Message);
        Assert.Throws<InvalidOperationException>(() => streams.Add(Open(busy, clock.Now)));
    }

    [Fact]
    public void The_chunk_address_is_the_instance_queue_beside_the_open_endpoint_and_temporary()
    {
        var address = OpenMaskingStreamConsumer.ChunkAddress(new Uri("rabbitmq://127.0.0.1:5672/portcullis/masking-open-masking-stream"), "masking-chunks-ab12");
        Assert.Equal("rabbitmq://127.0.0.1:5672/portcullis/masking-chunks-ab12?temporary=true", address.ToString());
    }
}
