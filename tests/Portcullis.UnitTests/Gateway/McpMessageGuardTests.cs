using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Portcullis.Gateway.Connectors.Mcp;

namespace Portcullis.UnitTests.Gateway;

/// <summary>What one upstream MCP connection may send: messages (lines) up to a size, notifications up to a count between answers.</summary>
public class McpMessageGuardTests
{
    private static McpMessageGuard Guard(long maxBytes = 64, int maxNotifications = 3) =>
        new("hostile", maxBytes, maxNotifications, NullLogger.Instance);

    private static async Task<string> ReadAll(Stream stream)
    {
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    [Fact]
    public async Task Lines_up_to_the_cap_pass_whole_and_a_longer_one_cuts_the_connection_off()
    {
        var fine = Guard();
        var lines = string.Join("\n", Enumerable.Range(0, 50).Select(_ => new string('a', 64))) + "\n";
        Assert.Equal(lines, await ReadAll(new McpMessageGuard.LineLimit(new MemoryStream(Encoding.UTF8.GetBytes(lines)), fine)));
        Assert.Null(fine.Reason);
        // A last line without its end is handed on when the server closes its output.
        Assert.Equal("a\nb", await ReadAll(new McpMessageGuard.LineLimit(new MemoryStream("a\nb"u8.ToArray()), fine)));

        // One line over the cap, ended or not, after short ones: the read fails there, and the guard says why.
        foreach (var text in new[] { "short\n" + new string('x', 65) + "\n", "short\n" + new string('x', 10_000) })
        {
            var guard = Guard();
            var failed = await Assert.ThrowsAsync<IOException>(() =>
                ReadAll(new McpMessageGuard.LineLimit(new MemoryStream(Encoding.UTF8.GetBytes(text)), guard)));
            Assert.Contains("sent a message longer than 64 bytes", failed.Message);
            Assert.Equal(failed.Message, guard.Reason);
            Assert.True(guard.Token.IsCancellationRequested);
        }
    }

    [Fact]
    public async Task A_line_without_end_is_not_read_past_the_cap()
    {
        var guard = Guard(maxBytes: 1024 * 1024);
        var endless = new Endless();
        await Assert.ThrowsAsync<IOException>(() => ReadAll(new McpMessageGuard.LineLimit(endless, guard)));
        Assert.InRange(endless.Served, 1024 * 1024, 2 * 1024 * 1024);
    }

    [Fact]
    public async Task Notifications_past_the_count_between_answers_cut_the_connection_off()
    {
        var guard = Guard(maxNotifications: 3);
        var inner = new FakeTransport();
        await using var session = await guard.Guard(inner).ConnectAsync(CancellationToken.None);
        // Three, an answer, three more: within the count.
        for (var i = 0; i < 3; i++) inner.Send(new JsonRpcNotification { Method = "notifications/message" });
        inner.Send(new JsonRpcResponse { Id = new RequestId(1), Result = new JsonObject() });
        for (var i = 0; i < 3; i++) inner.Send(new JsonRpcNotification { Method = "notifications/progress" });
        for (var i = 0; i < 7; i++) Assert.True(await session.MessageReader.WaitToReadAsync() && session.MessageReader.TryRead(out _));
        Assert.Null(guard.Reason);

        // A fourth without an answer: cut off, the reader fails with why, the connection is closed.
        inner.Send(new JsonRpcRequest { Id = new RequestId(2), Method = "ping" });
        var failed = await Assert.ThrowsAsync<IOException>(async () => { while (await session.MessageReader.WaitToReadAsync()) session.MessageReader.TryRead(out _); });
        Assert.Contains("more than 3 notifications", failed.Message);
        Assert.Equal(failed.Message, guard.Reason);
        Assert.True(inner.Disposed);
    }

    private sealed class Endless : Stream
    {
        public long Served { get; private set; }
        public override int Read(byte[] buffer, int offset, int count)
        {
            buffer.AsSpan(offset, count).Fill((byte)'x');
            Served += count;
            return count;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class FakeTransport : IClientTransport, ITransport
    {
        private readonly Channel<JsonRpcMessage> _messages = Channel.CreateUnbounded<JsonRpcMessage>();
        public bool Disposed { get; private set; }
        public string Name => "fake";
        public string? SessionId => null;
        public ChannelReader<JsonRpcMessage> MessageReader => _messages.Reader;
        public void Send(JsonRpcMessage message) => _messages.Writer.TryWrite(message);
        public Task<ITransport> ConnectAsync(CancellationToken cancellationToken) => Task.FromResult<ITransport>(this);
        public Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            _messages.Writer.TryComplete();
            return ValueTask.CompletedTask;
        }
    }
}
