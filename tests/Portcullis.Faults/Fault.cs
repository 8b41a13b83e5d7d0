using System.Diagnostics;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.Faults;

/// <summary>One crash and its repair: a service killed with SIGKILL and started again, or a server crashed and restarted.</summary>
public sealed record Fault(string Name, Func<PortcullisStack, Task> Crash, Func<PortcullisStack, Task> Repair)
{
    public static Fault Kill(string service) => new($"SIGKILL {service}",
        // A generous readiness wait: on a busy machine a service's start alone has taken more than 90 s.
        stack => stack.StopAsync(service), stack => stack.StartAsync(service, TimeSpan.FromMinutes(4)));

    public static readonly Fault RabbitMq = new("RabbitMQ killed (SIGKILL)",
        _ => Servers("kill-rabbitmq"), _ => Servers("start"));

    public static readonly Fault Postgres = new("PostgreSQL stopped (immediate)",
        _ => Servers("kill-postgres"), _ => Servers("start"));

    public static readonly Fault[] Full =
        [Kill("gateway"), Kill("policy"), Kill("masking"), Kill("approval"), Kill("audit"), RabbitMq, Postgres];

    /// <summary>What CI runs: the three that hold the record, the audit, the broker and the store.</summary>
    // The RabbitMQ kill is back since a sequence number spent on a request refused while the broker was gone is
    // voided, not a gap (docs/faults.md, "Settled: a chain that did not verify after a RabbitMQ kill").
    public static readonly Fault[] Short = [Kill("audit"), RabbitMq, Postgres];

    /// <summary>scripts/servers.sh with this process's environment (the suite's own ports and folder).</summary>
    private static async Task Servers(string command)
    {
        var script = Path.Combine(PortcullisStack.RepositoryRoot, "scripts", "servers.sh");
        using var process = Process.Start(new ProcessStartInfo(script, command) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var output = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries)) Console.WriteLine("    " + line);
        if (process.ExitCode != 0) throw new InvalidOperationException($"servers.sh {command} failed ({process.ExitCode})");
    }
}
