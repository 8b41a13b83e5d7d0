using System.Text;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Secrets;
using Renci.SshNet;
using Renci.SshNet.Common;

namespace Portcullis.Gateway.Connectors.Ssh;

/// <summary>
/// Runs an agent's command on an ssh connection's host with the gateway's key. The host key is pinned. The
/// command runs under the host's GNU timeout in a process group of its own, so when it passes its timeout,
/// or its output passes the cap (the gateway then signals timeout), every process it started is killed, not
/// just its shell: sshd's own signal reaches only the session's first process.
/// </summary>
public sealed class SshConnector(PortcullisConfig config, SecretResolver secrets, ILogger<SshConnector> logger)
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);
    public const long DefaultMaxOutputBytes = 1024 * 1024;

    public bool Has(string connection) =>
        config.Connections.TryGetValue(connection, out var c) && c.Kind == "ssh";

    public string Describe(string connection)
    {
        var settings = config.Connections[connection];
        return $"ssh://{settings.Username}@{settings.Host}:{settings.Port}";
    }

    public async Task<CommandResult> ExecuteAsync(string connection, string commandLine, long? maxOutputBytes,
        CancellationToken cancellationToken)
    {
        var settings = config.Connections[connection];
        var timeout = settings.Timeout is { } text && DurationText.TryParse(text, out var configured) ? configured : DefaultTimeout;
        var cap = maxOutputBytes ?? DefaultMaxOutputBytes;
        var keyText = await secrets.ResolveAsync(settings.PrivateKey
            ?? throw new InvalidOperationException($"connections.{connection}.private_key is not set"), cancellationToken);

        var (host, user) = (settings.Host ?? throw new InvalidOperationException($"connections.{connection}.host is not set"),
            settings.Username ?? throw new InvalidOperationException($"connections.{connection}.username is not set"));
        using var key = new PrivateKeyFile(new MemoryStream(Encoding.UTF8.GetBytes(keyText)));
        using var client = new SshClient(new Renci.SshNet.ConnectionInfo(host, settings.Port, user,
            new PrivateKeyAuthenticationMethod(user, key)) { Timeout = TimeSpan.FromSeconds(10) });
        var pinned = settings.HostKeySha256 is { } fingerprint
            ? (await secrets.ResolveAsync(fingerprint, cancellationToken)).Trim().Replace("SHA256:", "", StringComparison.Ordinal).TrimEnd('=')
            : null;
        client.HostKeyReceived += (_, e) => e.CanTrust = pinned is not null && e.FingerPrintSHA256.TrimEnd('=') == pinned;
        try
        {
            await client.ConnectAsync(cancellationToken);
        }
        catch (SshConnectionException ex) when (ex.Message.Contains("Key exchange", StringComparison.OrdinalIgnoreCase)
                                              || ex.Message.Contains("host key", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"The host key of connection '{connection}' is not the pinned one; not connecting.", ex);
        }

        var seconds = (int)Math.Ceiling(timeout.TotalSeconds);
        using var command = client.CreateCommand($"exec timeout --kill-after=1 {seconds} sh -c {Quote(commandLine)}");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(timeout + TimeSpan.FromSeconds(3)); // a backstop: the remote timeout acts first
        var stdout = new CappedBuffer(cap);
        var stderr = new CappedBuffer(cap);
        var run = command.ExecuteAsync(stop.Token);
        var readers = Task.WhenAll(
            Task.Run(() => stdout.ReadAll(command.OutputStream, stop)),
            Task.Run(() => stderr.ReadAll(command.ExtendedOutputStream, stop)));
        var timedOut = false;
        try
        {
            await run;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            timedOut = !stdout.Full && !stderr.Full;
            logger.LogWarning("Command on {Connection} stopped: {Reason}", connection, timedOut ? "timeout" : "output cap");
        }
        await Task.WhenAny(readers, Task.Delay(TimeSpan.FromSeconds(2), CancellationToken.None));
        client.Disconnect();
        timedOut |= command.ExitStatus is 124 or 137 && !stdout.Full && !stderr.Full; // GNU timeout's exit codes
        return new CommandResult(command.ExitStatus, command.ExitSignal, stdout.Text, stderr.Text,
            stdout.Full || stderr.Full, timedOut);
    }

    /// <summary>One single-quoted shell word, whatever the text holds.</summary>
    private static string Quote(string text) => "'" + text.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>Keeps at most <c>cap</c> bytes of a stream; when full it stops the command.</summary>
    private sealed class CappedBuffer(long cap)
    {
        private readonly MemoryStream _bytes = new();

        public bool Full { get; private set; }
        public string Text => Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length).TrimEnd('\uFFFD');

        public void ReadAll(Stream stream, CancellationTokenSource stop)
        {
            var chunk = new byte[16384];
            int read;
            while ((read = stream.Read(chunk, 0, chunk.Length)) > 0)
            {
                var room = (int)Math.Min(read, cap - _bytes.Length);
                _bytes.Write(chunk, 0, room);
                if (room < read)
                {
                    Full = true;
                    stop.Cancel();
                    return;
                }
            }
        }
    }
}

public sealed record CommandResult(int? ExitCode, string? ExitSignal, string Stdout, string Stderr, bool Truncated, bool TimedOut);
