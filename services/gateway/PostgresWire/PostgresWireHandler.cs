using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using Portcullis.Gateway.Connectors.Postgres;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// Kestrel's connection handler for the PostgreSQL port: each connection is a <see cref="WireConnection"/>. A
/// connection that breaks the protocol gets an ErrorResponse and is closed; nothing it sent before authenticating
/// reaches an upstream.
/// </summary>
public sealed class PostgresWireHandler(WireStatements statements, WireAuthenticator authenticator, WireCancellation cancellation,
    PostgresConnector postgres, IOptions<PostgresWireOptions> options, ILogger<PostgresWireHandler> logger) : ConnectionHandler
{
    private readonly Lazy<X509Certificate2?> _certificate = new(() => LoadCertificate(options.Value));

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var remote = (connection.RemoteEndPoint as IPEndPoint)?.Address;
        var wire = new WireConnection(connection.Transport, remote, _certificate.Value, options.Value, statements, authenticator,
            cancellation, postgres, logger, connection.ConnectionClosed);
        try
        {
            await wire.RunAsync();
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or OperationCanceledException
                                       or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            logger.LogDebug("PostgreSQL wire connection {Connection} ended: {Reason}", connection.ConnectionId, ex.GetType().Name);
        }
        catch (Exception ex)
        {
            // Never a crash of the gateway: the connection ends, the reason is logged (no statement text, no password).
            logger.LogError("PostgreSQL wire connection {Connection} failed: {Reason}", connection.ConnectionId, ex.GetType().Name);
            logger.LogDebug(ex, "PostgreSQL wire connection {Connection} failure", connection.ConnectionId);
        }
        finally
        {
            await wire.DisposeAsync();
        }
    }

    private static X509Certificate2? LoadCertificate(PostgresWireOptions settings)
    {
        if (string.IsNullOrEmpty(settings.CertificatePath)) return null;
        var certificate = X509Certificate2.CreateFromPemFile(settings.CertificatePath, settings.CertificateKeyPath);
        // A certificate whose key came from PEM is usable by SslStream everywhere once it is a persisted PKCS#12 key.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}

/// <summary>The transport a connection speaks over: the socket's pipe, or a TLS stream over it after SSLRequest.</summary>
internal sealed class DuplexPipeStream(IDuplexPipe pipe) : Stream
{
    private readonly Stream _input = pipe.Input.AsStream(leaveOpen: true);
    private readonly Stream _output = pipe.Output.AsStream(leaveOpen: true);

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() => _output.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _output.FlushAsync(cancellationToken);
    public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, count);
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _input.ReadAsync(buffer, cancellationToken);
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _input.ReadAsync(buffer, offset, count, cancellationToken);
    public override void Write(byte[] buffer, int offset, int count) => _output.Write(buffer, offset, count);
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _output.WriteAsync(buffer, cancellationToken);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _output.WriteAsync(buffer, offset, count, cancellationToken);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
