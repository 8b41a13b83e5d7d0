using System.Diagnostics;
using System.Net.Sockets;

namespace Portcullis.EndToEndTests.Stack;

/// <summary>
/// One Portcullis service running as its own process from its build output, on a loopback port, with its
/// output in a log file. Tests stop and start it to see what the others do without it.
/// </summary>
/// <paramref name="metricsPort"/>: a second local port the service also listens on, the one production gives the scraper
/// alone (Metrics:Port), so that /metrics answers there and not on the agent-facing port.
public sealed class ServiceProcess(string name, string assemblyPath, int port, IReadOnlyDictionary<string, string> environment,
    string logDirectory, string readinessPath = "/health/ready", int? metricsPort = null) : IAsyncDisposable
{
    private Process? _process;

    public string Name => name;
    public string AssemblyPath => assemblyPath;
    public IReadOnlyDictionary<string, string> Environment => environment;
    public int Port => port;
    public Uri BaseAddress => new($"http://127.0.0.1:{port}/");
    /// <summary>Where /metrics answers: the metrics port when the service has one, else its only port.</summary>
    public Uri MetricsAddress => new($"http://127.0.0.1:{metricsPort ?? port}/");
    public string LogPath => Path.Combine(logDirectory, $"{name}.log");

    public void Start()
    {
        if (!File.Exists(assemblyPath))
            throw new FileNotFoundException($"{name} is not built: {assemblyPath} is missing (dotnet build Platform.sln).", assemblyPath);
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { assemblyPath, "--urls", $"http://127.0.0.1:{port}" + (metricsPort is { } metrics ? $";http://127.0.0.1:{metrics}" : "") },
            WorkingDirectory = Path.GetDirectoryName(assemblyPath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var log = new StreamWriter(new FileStream(LogPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        // Output keeps arriving after Exited (the readers drain what the process wrote last, often why it
        // ended), so the log closes when both streams have ended (a null line each), never before.
        var open = 2;
        void Write(string? line)
        {
            lock (log)
            {
                if (open == 0) return;
                if (line is not null) log.WriteLine(line);
                else if (--open == 0) log.Dispose();
            }
        }
        _process.OutputDataReceived += (_, e) => Write(e.Data);
        _process.ErrorDataReceived += (_, e) => Write(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        string last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            if (_process is null || _process.HasExited)
                throw new InvalidOperationException($"{name} exited during start-up; its log ({LogPath}) ends with:\n{Tail()}");
            try
            {
                using var response = await http.GetAsync(readinessPath);
                if (response.IsSuccessStatusCode) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                last = ex.Message;
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"{name} was not ready within {timeout.TotalSeconds} s ({last}); its log ({LogPath}) ends with:\n{Tail()}");
    }

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The process id while it runs (for a fault suite that signals it).</summary>
    public int? ProcessId => IsRunning ? _process!.Id : null;

    /// <summary>SIGSTOP: the process stops running but keeps its sockets open, as a hung process would.</summary>
    public Task PauseAsync() => SignalAsync("STOP");

    /// <summary>SIGCONT: a paused process runs again.</summary>
    public Task ResumeAsync() => SignalAsync("CONT");

    private async Task SignalAsync(string signal)
    {
        if (_process is null || _process.HasExited) throw new InvalidOperationException($"{name} is not running");
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{signal} {name} failed ({kill.ExitCode})");
    }

    /// <summary>Kills the process, as a crash or an operator would stop it.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync();

    private string Tail() =>
        File.Exists(LogPath)
            ? string.Join('\n', File.ReadLines(LogPath).TakeLast(25))
            : "(no log)";

    private static readonly HashSet<int> Given = [];

    /// <summary>
    /// A port free now and below the kernel's ephemeral range. A port the kernel hands out (port 0) lies in
    /// that range, where every outbound connection (to PostgreSQL, RabbitMQ, another service) also takes its
    /// source port, so one could take it before the service binds it; that failed a whole run once.
    /// </summary>
    public static int FreePort()
    {
        var ceiling = Math.Min(EphemeralFloor(), 32_768);
        lock (Given)
        {
            for (var attempt = 0; ceiling > 15_000 && attempt < 2_000; attempt++)
            {
                var port = Random.Shared.Next(15_000, ceiling);
                if (!Given.Add(port)) continue;
                try
                {
                    using var probe = new TcpListener(System.Net.IPAddress.Loopback, port);
                    probe.Start();
                    return port;
                }
                catch (System.Net.Sockets.SocketException)
                {
                    // taken: try another
                }
            }
        }
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static int EphemeralFloor()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0]);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return 32_768; // Linux's default
        }
    }
}
