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
