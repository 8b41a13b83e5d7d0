using System.Net;
using System.Net.Sockets;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>
/// A TCP link to a real server that a test can cut and restore, to take the broker away from one process without
/// touching the shared server: cut, every connection through it is closed and new ones are closed at once;
/// restored, it forwards again.
/// </summary>
public sealed class CuttableLink : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _accepting;
    private volatile bool _cut;

    public CuttableLink(string host, int port)
    {
        (_host, _port) = (host, port);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Closes every connection through the link and refuses new ones until <see cref="Restore"/>.</summary>
    public void Cut()
    {
        _cut = true;
        lock (_open)
        {
            foreach (var client in _open) client.Dispose();
            _open.Clear();
        }
    }

    public void Restore() => _cut = false;

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            if (_cut)
            {
                inbound.Dispose();
                continue;
            }
            _ = ForwardAsync(inbound);
        }
    }

    private async Task ForwardAsync(TcpClient inbound)
    {
        var outbound = new TcpClient();
        try
        {
            await outbound.ConnectAsync(_host, _port, _stopping.Token);
            lock (_open)
            {
                _open.Add(inbound);
                _open.Add(outbound);
            }
            if (_cut) throw new IOException("cut");
            await Task.WhenAny(inbound.GetStream().CopyToAsync(outbound.GetStream(), _stopping.Token),
                outbound.GetStream().CopyToAsync(inbound.GetStream(), _stopping.Token));
        }
        catch (Exception)
        {
            // A cut, a closed end or the link stopping: both ends are closed below.
        }
        finally
        {
            lock (_open)
            {
                _open.Remove(inbound);
                _open.Remove(outbound);
            }
            inbound.Dispose();
            outbound.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        Cut();
        await _accepting;
        _stopping.Dispose();
    }
}
