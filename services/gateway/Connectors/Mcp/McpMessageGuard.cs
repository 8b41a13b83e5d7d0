using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>
/// What one connection to an upstream MCP server may send, whoever wrote the server: one message (a line over stdio)
/// of at most <c>Gateway:McpMaxMessageBytes</c>, and at most <c>Gateway:McpMaxNotifications</c> notifications (progress,
/// log messages) or requests of its own between two answers. A server past either is cut off: its process is ended,
/// the calls waiting on it fail (a tool error, <c>upstream_failed</c> in the audit) with <see cref="Reason"/>, and the
/// next use starts it again. The SDK would otherwise read a line without end into memory, and queue notifications as
/// fast as a server writes them.
/// </summary>
public sealed class McpMessageGuard(string connection, long maxMessageBytes, int maxNotifications, ILogger logger)
{
    private readonly CancellationTokenSource _cut = new();
    private string? _reason;

    /// <summary>Cancelled when the connection is cut off.</summary>
    public CancellationToken Token => _cut.Token;

    /// <summary>Why the connection was cut off, or null while it was not.</summary>
    public string? Reason => Volatile.Read(ref _reason);

    public long MaxMessageBytes => maxMessageBytes;

    public void Cut(string reason)
    {
        if (Interlocked.CompareExchange(ref _reason, $"The MCP server of connection '{connection}' {reason}; it was cut off.", null) is not null)
            return;
        logger.LogWarning("MCP connection {Connection}: the server {Reason}; it is cut off and started again on the next use", connection, reason);
        _cut.Cancel();
    }

    /// <summary>The transport with this guard between it and the client: its notifications counted.</summary>
    public IClientTransport Guard(IClientTransport inner) => new GuardedTransport(inner, this, maxNotifications);

    private sealed class GuardedTransport(IClientTransport inner, McpMessageGuard guard, int maxNotifications) : IClientTransport
    {
        public string Name => inner.Name;

        public async Task<ITransport> ConnectAsync(CancellationToken cancellationToken) =>
            new GuardedSession(await inner.ConnectAsync(cancellationToken), guard, maxNotifications);
    }

    private sealed class GuardedSession : ITransport
    {
        private readonly ITransport _inner;
        private readonly McpMessageGuard _guard;
        private readonly Channel<JsonRpcMessage> _messages = Channel.CreateUnbounded<JsonRpcMessage>(new() { SingleWriter = true });
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _pump;

        public GuardedSession(ITransport inner, McpMessageGuard guard, int maxNotifications)
        {
            (_inner, _guard) = (inner, guard);
            _pump = PumpAsync(maxNotifications);
        }

        public string? SessionId => _inner.SessionId;

        public ChannelReader<JsonRpcMessage> MessageReader => _messages.Reader;

        public Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default) =>
            _inner.SendMessageAsync(message, cancellationToken);

        private async Task PumpAsync(int maxNotifications)
        {
            var notifications = 0;
            Exception? failure = null;
            try
            {
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _guard.Token);
                await foreach (var message in _inner.MessageReader.ReadAllAsync(stop.Token))
                {
                    // Requests of its own count too: each is answered, and as many can be sent as notifications.
                    if (message is JsonRpcResponse or JsonRpcError) notifications = 0;
                    else if (++notifications > maxNotifications)
                    {
                        _guard.Cut($"sent more than {maxNotifications} notifications (or requests of its own) without an answer " +
                                   "(Gateway:McpMaxNotifications)");
                        break;
                    }
                    _messages.Writer.TryWrite(message);
                }
            }
            catch (OperationCanceledException)
            {
                // Stopped, or cut off: what the server sends from now on is not read.
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            // Cut off: closed at once (a server process ended), not left writing into the transport's queue until next use.
            if (_guard.Reason is not null) await CloseInnerAsync();
            _messages.Writer.TryComplete(_guard.Reason is { } reason ? new IOException(reason) : failure);
        }

        private int _closed;

        private async Task CloseInnerAsync()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 1) return;
            try { await _inner.DisposeAsync(); }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException) { }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            await CloseInnerAsync();
            await _pump;
            _stop.Dispose();
        }
    }

    /// <summary>
    /// A local server over stdio, started by the gateway itself so that its output is read through
    /// <see cref="LineLimit"/>: its standard output is the message stream, its standard error is read and dropped
    /// (never logged: it may hold anything), and it is ended with its children when the connection closes.
    /// </summary>
    public IClientTransport Stdio(string name, string command, IList<string> arguments, string? workingDirectory,
        IDictionary<string, string?> environment, ILoggerFactory loggers) =>
        Guard(new StdioTransport(name, command, arguments, workingDirectory, environment, this, loggers));

    private sealed class StdioTransport(string name, string command, IList<string> arguments, string? workingDirectory,
        IDictionary<string, string?> environment, McpMessageGuard guard, ILoggerFactory loggers) : IClientTransport
    {
        public string Name => name;

        public async Task<ITransport> ConnectAsync(CancellationToken cancellationToken)
        {
            var start = new ProcessStartInfo
            {
                FileName = command,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                CreateNoWindow = true,
                WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
                StandardInputEncoding = new UTF8Encoding(false),
            };
            foreach (var argument in arguments) start.ArgumentList.Add(argument);
            start.Environment.Clear();
            foreach (var (key, value) in environment) start.Environment[key] = value;
            var process = new Process { StartInfo = start };
            if (!process.Start()) throw new IOException($"The MCP server of connection '{name}' could not be started.");
            try
            {
                // Read as bytes and dropped: a line-based reader would hold a line without end.
                _ = process.StandardError.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None)
                    .ContinueWith(copied => _ = copied.Exception, TaskScheduler.Default);
                var stream = new StreamClientTransport(process.StandardInput.BaseStream,
                    new LineLimit(process.StandardOutput.BaseStream, guard), loggers);
                return new ProcessSession(await stream.ConnectAsync(cancellationToken), process);
            }
            catch
            {
                End(process);
                throw;
            }
        }

        internal static void End(Process process)
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
            }
            catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Already gone.
            }
            process.Dispose();
        }
    }

    private sealed class ProcessSession(ITransport inner, Process process) : ITransport
    {
        public string? SessionId => inner.SessionId;
        public ChannelReader<JsonRpcMessage> MessageReader => inner.MessageReader;

        public Task SendMessageAsync(JsonRpcMessage message, CancellationToken cancellationToken = default) =>
            inner.SendMessageAsync(message, cancellationToken);

        public async ValueTask DisposeAsync()
        {
            // Ended first: a server that writes without end would keep the reader of its output busy.
            StdioTransport.End(process);
            try { await inner.DisposeAsync(); }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException) { }
        }
    }

    /// <summary>
    /// A server's standard output, handed on in whole lines only, and read no further than
    /// <see cref="MaxMessageBytes"/> bytes without a line end: past that, the connection is cut off and the read fails.
    /// The reader above (the SDK's, which searches its whole buffer for a line end on every read) never sees a line
    /// that is too long, nor holds more of one than this stream does.
    /// </summary>
    public sealed class LineLimit(Stream inner, McpMessageGuard guard) : ReadOnlyStream(inner)
    {
        private const int Chunk = 64 * 1024;
        private byte[] _buffer = new byte[Chunk];
        private int _start; // the first byte not handed on yet
        private int _ready; // bytes before it end with a line end, and may be handed on
        private int _end;   // bytes read from the server
        private long _line; // the unfinished line's length so far
        private bool _ended;

        public override int Read(byte[] buffer, int offset, int count) =>
            ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            while (_start == _ready)
            {
                if (_ended)
                {
                    // What the server wrote after its last line end, when it closed its output.
                    if (_start == _end) return 0;
                    _ready = _end;
                    break;
                }
                if (_start > 0)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    (_ready, _end, _start) = (_ready - _start, _end - _start, 0);
                }
                if (_buffer.Length - _end < Chunk) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _end + Chunk));
                var read = await Inner.ReadAsync(_buffer.AsMemory(_end, Chunk), cancellationToken);
                if (read == 0)
                {
                    _ended = true;
                    continue;
                }
                var lastEnd = Count(_buffer.AsSpan(_end, read));
                if (lastEnd >= 0) _ready = _end + lastEnd + 1;
                _end += read;
            }
            var count = Math.Min(destination.Length, _ready - _start);
            _buffer.AsSpan(_start, count).CopyTo(destination.Span);
            _start += count;
            return count;
        }

        /// <summary>Counts the lines in <paramref name="read"/>; the index of its last line end, or -1.</summary>
        private int Count(ReadOnlySpan<byte> read)
        {
            var last = -1;
            for (var at = 0; ;)
            {
                var end = read[at..].IndexOf((byte)'\n');
                _line += end < 0 ? read.Length - at : end;
                if (_line > guard.MaxMessageBytes)
                {
                    guard.Cut($"sent a message longer than {guard.MaxMessageBytes} bytes (Gateway:McpMaxMessageBytes)");
                    throw new IOException(guard.Reason);
                }
                if (end < 0) return last;
                last = at + end;
                _line = 0;
                at = last + 1;
            }
        }
    }
}

/// <summary>A call failed because its upstream was cut off (see <see cref="McpMessageGuard"/>); the message is the gateway's own.</summary>
public sealed class McpCutOffException(string message, Exception? inner = null) : IOException(message, inner);
