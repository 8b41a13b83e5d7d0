using System.Diagnostics;

namespace Portcullis.EndToEndTests.Stack;

/// <summary>The third-party MCP servers the gateway proxies in these tests: tests/mcp-servers, installed with npm ci when missing.</summary>
public static class McpServers
{
    public static async Task InstallAsync(string repositoryRoot)
    {
        var folder = Path.Combine(repositoryRoot, "tests", "mcp-servers");
        if (Directory.Exists(Path.Combine(folder, "node_modules", "@modelcontextprotocol", "server-filesystem"))
            && Directory.Exists(Path.Combine(folder, "node_modules", "@modelcontextprotocol", "server-everything"))) return;
        var start = new ProcessStartInfo("npm") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "ci", "--no-audit", "--no-fund" }) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cancel.Token);
        if (process.ExitCode != 0) throw new InvalidOperationException($"npm ci in tests/mcp-servers failed: {await stderr}");
    }
}

/// <summary>
/// An MCP server from tests/mcp-servers over Streamable HTTP on a port of its own (http://127.0.0.1:{port}/mcp):
/// @modelcontextprotocol/server-everything, or hostile.mjs.
/// </summary>
public sealed class NodeMcpHttpServer : IAsyncDisposable
{
    private readonly Process _process;

    private NodeMcpHttpServer(Process process, int port) => (_process, Port) = (process, port);

    public int Port { get; }
    public string Url => $"http://127.0.0.1:{Port}/mcp";

    public static Task<NodeMcpHttpServer> EverythingAsync(string repositoryRoot, int port) =>
        StartAsync(repositoryRoot, port, [Path.Combine("node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js"), "streamableHttp"]);

    public static Task<NodeMcpHttpServer> HostileAsync(string repositoryRoot, int port) =>
        StartAsync(repositoryRoot, port, ["hostile.mjs", "http", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

    private static async Task<NodeMcpHttpServer> StartAsync(string repositoryRoot, int port, string[] arguments)
    {
        var folder = Path.Combine(repositoryRoot, "tests", "mcp-servers");
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new NodeMcpHttpServer(process, port);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var tcp = new System.Net.Sockets.TcpClient();
                await tcp.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (System.Net.Sockets.SocketException)
            {
                if (process.HasExited) break;
                await Task.Delay(100);
            }
        }
        await server.DisposeAsync();
        throw new InvalidOperationException($"{arguments[0]} did not start listening on its port.");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
