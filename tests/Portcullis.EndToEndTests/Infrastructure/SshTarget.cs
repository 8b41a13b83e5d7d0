using System.Diagnostics;
using System.Net.Sockets;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>
/// A real OpenSSH server (Debian's openssh-server) on a loopback port, with a host key and a client key made
/// for this run. The gateway gets the client's private key as a secret and pins the host key's fingerprint.
/// </summary>
public sealed class SshTarget : IAsyncDisposable
{
    private Process? _sshd;

    public required int Port { get; init; }
    public required string User { get; init; }
    public required string ClientPrivateKey { get; init; }
    public required string HostKeyFingerprint { get; init; }

    public static async Task<SshTarget> StartAsync(string directory, int port)
    {
        const string sshd = "/usr/sbin/sshd";
        if (!File.Exists(sshd))
            throw new InvalidOperationException("sshd is not installed: run 'apt-get install openssh-server' (scripts/servers.sh install does it).");
        var folder = Directory.CreateDirectory(Path.Combine(directory, "sshd")).FullName;
        var hostKey = Path.Combine(folder, "host_ed25519");
        var clientKey = Path.Combine(folder, "client_ed25519");
        await Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "portcullis-test-host", "-f", hostKey);
        await Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "portcullis-gateway", "-f", clientKey);
        File.Copy(clientKey + ".pub", Path.Combine(folder, "authorized_keys"));
        var fingerprint = (await Run("ssh-keygen", "-l", "-E", "sha256", "-f", hostKey + ".pub")).Split(' ')[1];

        var user = Environment.UserName;
        var config = Path.Combine(folder, "sshd_config");
        File.WriteAllText(config, $"""
            Port {port}
            ListenAddress 127.0.0.1
            HostKey {hostKey}
            AuthorizedKeysFile {folder}/authorized_keys
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            AllowUsers {user}
            StrictModes no
            UsePAM no
            PidFile {folder}/sshd.pid
            LogLevel VERBOSE
            """);
        Directory.CreateDirectory("/run/sshd"); // sshd's privilege separation directory

        var log = Path.Combine(directory, "sshd.log");
        var process = Process.Start(new ProcessStartInfo(sshd) { ArgumentList = { "-D", "-e", "-f", config }, RedirectStandardError = true, RedirectStandardOutput = true })!;
        _ = Task.Run(async () =>
        {
            await using var writer = new StreamWriter(log, append: true) { AutoFlush = true };
            while (await process.StandardError.ReadLineAsync() is { } line) await writer.WriteLineAsync(line);
        });
        var target = new SshTarget
        {
            Port = port,
            User = user,
            ClientPrivateKey = File.ReadAllText(clientKey),
            HostKeyFingerprint = fingerprint,
            _sshd = process,
        };
        for (var attempt = 0; attempt < 100; attempt++)
        {
            if (process.HasExited) throw new InvalidOperationException($"sshd exited at start-up; see {log}");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return target;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }
        throw new TimeoutException($"sshd did not listen on {port}; see {log}");
    }

    private static async Task<string> Run(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"{program} failed: {await process.StandardError.ReadToEndAsync()}");
        return output.Trim();
    }

    public async ValueTask DisposeAsync()
    {
        if (_sshd is { HasExited: false })
        {
            _sshd.Kill(entireProcessTree: true);
            await _sshd.WaitForExitAsync();
        }
        _sshd?.Dispose();
    }
}
