namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>
/// A read-only, forward-only stream over another that it owns (disposed with it): the frame of the gateway's bounded
/// readers of upstream MCP output (<see cref="McpResponseLimit"/>, <see cref="McpMessageGuard.LineLimit"/>), which
/// supply only the reading.
/// </summary>
public abstract class ReadOnlyStream(Stream inner) : Stream
{
    protected Stream Inner => inner;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
