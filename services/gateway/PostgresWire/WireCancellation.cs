using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// The keys given in BackendKeyData, and the statement each connection is running: a CancelRequest with a connection's
/// process id and secret cancels that statement (the upstream's too, through the driver). Keys live in this gateway
/// instance; a CancelRequest that reaches another instance finds nothing and is ignored, as PostgreSQL ignores one it
/// cannot match.
/// </summary>
public sealed class WireCancellation
{
    private readonly ConcurrentDictionary<int, Entry> _connections = new();

    private sealed class Entry(int secret)
    {
        public int Secret { get; } = secret;
        public CancellationTokenSource? Running;
    }

    /// <summary>A new (process id, secret) pair for a connection; <see cref="Release"/> it when the connection ends.</summary>
    public (int ProcessId, int Secret) Register()
    {
        while (true)
        {
            var processId = RandomNumberGenerator.GetInt32(1, int.MaxValue);
            var secret = RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);
            if (_connections.TryAdd(processId, new Entry(secret))) return (processId, secret);
        }
    }

    public void Release(int processId) => _connections.TryRemove(processId, out _);

    /// <summary>Marks the statement that <paramref name="processId"/> runs now (null when it is done).</summary>
    public void Running(int processId, CancellationTokenSource? statement)
    {
        if (_connections.TryGetValue(processId, out var entry)) Volatile.Write(ref entry.Running, statement);
    }

    public bool Cancel(int processId, int secret)
    {
        if (!_connections.TryGetValue(processId, out var entry)) return false;
        Span<byte> given = stackalloc byte[4], expected = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(given, secret);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(expected, entry.Secret);
        if (!CryptographicOperations.FixedTimeEquals(given, expected)) return false;
        try
        {
            Volatile.Read(ref entry.Running)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The statement finished as the cancel arrived.
        }
        return true;
    }
}
