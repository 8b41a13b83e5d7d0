using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// Bytes no PostgreSQL client sends, at the gateway's PostgreSQL port: each gets an ErrorResponse where the protocol
/// allows one and the connection closes; nothing runs, and the gateway keeps serving.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PostgresWireHostileInputTests(PortcullisStack stack)
{
    private async Task<(TcpClient Client, Stream Stream)> Open()
    {
        var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", stack.WirePort);
        return (client, client.GetStream());
    }

    private static byte[] Startup(params (string Name, string Value)[] parameters)
    {
        var body = new List<byte> { 0, 3, 0, 0 };
        foreach (var (name, value) in parameters)
        {
            body.AddRange(Encoding.UTF8.GetBytes(name)); body.Add(0);
            body.AddRange(Encoding.UTF8.GetBytes(value)); body.Add(0);
        }
        body.Add(0);
        var packet = new byte[body.Count + 4];
        BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        body.CopyTo(packet, 4);
        return packet;
    }

    private static byte[] Typed(char type, byte[] payload, int? length = null)
    {
        var message = new byte[5 + payload.Length];
        message[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), length ?? payload.Length + 4);
        payload.CopyTo(message, 5);
        return message;
    }

    /// <summary>The messages the gateway sends until it closes the connection (type and payload as text).</summary>
    private static async Task<List<(char Type, string Text)>> ReadUntilClosed(Stream stream, char? stopAt = null)
    {
        var messages = new List<(char, string)>();
        var header = new byte[5];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            if (!await ReadExactly(stream, header, timeout.Token)) return messages;
            var payload = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
            if (!await ReadExactly(stream, payload, timeout.Token)) return messages;
            messages.Add(((char)header[0], Encoding.UTF8.GetString(payload)));
            if (stopAt is { } stop && header[0] == stop) return messages;
        }
    }

    private static async Task<bool> ReadExactly(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        try
        {
            await stream.ReadExactlyAsync(buffer, cancellationToken);
            return true;
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException)
        {
            return false;
        }
    }

    /// <summary>TLS, startup and the token: a session ready for queries.</summary>
    private async Task<(TcpClient Client, Stream Stream)> Authenticated(string session)
    {
        var (client, raw) = await Open();
        var request = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(request, 8);
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
        await raw.WriteAsync(request);
        Assert.Equal((byte)'S', (byte)raw.ReadByte());
        var tls = new SslStream(raw, false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("127.0.0.1");
        await tls.WriteAsync(Startup(("user", "agent"), ("database", "warehouse"), ("options", $"-c portcullis.session={session}")));
        var asked = await ReadUntilClosed(tls, stopAt: 'R');
        Assert.Equal('R', asked[^1].Type);
        await tls.WriteAsync(Typed('p', [.. Encoding.UTF8.GetBytes(await stack.TokenFor(PortcullisStack.AgentClient)), 0]));
        var ready = await ReadUntilClosed(tls, stopAt: 'Z');
        Assert.Equal('Z', ready[^1].Type);
        return (client, tls);
    }

    [Fact]
    public async Task Garbage_before_the_startup_gets_an_error_and_the_connection_closes()
    {
        var (client, stream) = await Open();
        using (client)
        {
            await stream.WriteAsync("GET / HTTP/1.1\r\nHost: gateway\r\n\r\n"u8.ToArray());
            var answer = await ReadUntilClosed(stream);
            Assert.Equal('E', Assert.Single(answer).Type);
            Assert.Contains("08P01", answer[0].Text);
        }
    }

    [Fact]
    public async Task A_password_without_tls_is_never_asked_for()
    {
        var (client, stream) = await Open();
        using (client)
        {
            await stream.WriteAsync(Startup(("user", "agent"), ("database", "warehouse")));
            var answer = Assert.Single(await ReadUntilClosed(stream));
            Assert.Equal('E', answer.Type);
            Assert.Contains("sslmode=require", answer.Text);
        }
    }

    [Fact]
    public async Task Bytes_sent_after_an_ssl_request_before_its_answer_are_refused()
    {
        var (client, stream) = await Open();
        using (client)
        {
            var request = new byte[8];
            BinaryPrimitives.WriteInt32BigEndian(request, 8);
            BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
            await stream.WriteAsync((byte[])[.. request, .. Startup(("user", "agent"), ("database", "warehouse"))]);
            var answer = Assert.Single(await ReadUntilClosed(stream));
            Assert.Equal('E', answer.Type);
            Assert.Contains("unencrypted data after SSL request", answer.Text);
        }
    }

    [Fact]
    public async Task Unknown_message_types_oversized_messages_and_malformed_binds_close_the_connection_and_run_nothing()
    {
        var session = "e2e-wire-hostile-" + Guid.NewGuid().ToString("N")[..8];
        var (first, unknown) = await Authenticated(session);
        using (first)
        {
            await unknown.WriteAsync(Typed('Y', [1, 2, 3]));
            var answer = Assert.Single(await ReadUntilClosed(unknown));
            Assert.Equal('E', answer.Type);
            Assert.Contains("Invalid frontend message type", answer.Text);
        }
        var (second, oversized) = await Authenticated(session);
        using (second)
        {
            await oversized.WriteAsync(Typed('Q', [], length: 512 * 1024 * 1024)); // claims 512 MB, sends none of it
            var answer = Assert.Single(await ReadUntilClosed(oversized));
            Assert.Contains("54000", answer.Text);
        }
        var (third, malformed) = await Authenticated(session);
        using (third)
        {
            // A Bind that claims 1000 parameters and carries none, then a query that must not run.
            await malformed.WriteAsync((byte[])[.. Typed('B', [0, 0, 0, 0, 0x03, 0xe8]), .. Typed('Q', [.. "SELECT 1"u8, 0])]);
            var answer = Assert.Single(await ReadUntilClosed(malformed));
            Assert.Contains("Malformed message", answer.Text);
        }

        // The gateway still serves, and the session's record holds only the statement sent properly.
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = stack.WirePort, Database = "warehouse", Username = "agent", SslMode = SslMode.Require,
            Password = await stack.TokenFor(PortcullisStack.AgentClient), Options = $"-c portcullis.session={session}", Pooling = false,
        };
        var source = new NpgsqlDataSourceBuilder(builder.ConnectionString);
        source.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        await using (var connection = await source.Build().OpenConnectionAsync())
        await using (var command = new NpgsqlCommand("SELECT 41 + 1", connection))
            Assert.Equal(42, Convert.ToInt32(await command.ExecuteScalarAsync()));
        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));
        var received = timeline.GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "RequestReceived").ToArray();
        Assert.Equal("SELECT 41 + 1", Assert.Single(received).GetProperty("data").GetProperty("action").GetProperty("sql").GetString());
    }
}
