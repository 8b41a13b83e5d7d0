using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>
/// The one place that chooses the real RabbitMQ and PostgreSQL the tests use: the servers named by
/// PORTCULLIS_RABBITMQ and PORTCULLIS_POSTGRES (scripts/test.sh starts them from Debian's packages when no
/// Docker engine answers), else containers started with Testcontainers. Never a fake.
/// </summary>
public sealed class TestServers : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _containers = [];

    public required string RabbitMq { get; init; }
    public required string Postgres { get; init; }
    public required string Source { get; init; }

    public static async Task<TestServers> StartAsync()
    {
        var rabbit = Environment.GetEnvironmentVariable("PORTCULLIS_RABBITMQ");
        var postgres = Environment.GetEnvironmentVariable("PORTCULLIS_POSTGRES");
        if (!string.IsNullOrEmpty(rabbit) && !string.IsNullOrEmpty(postgres))
            return new TestServers { RabbitMq = rabbit, Postgres = postgres, Source = "local servers (scripts/servers.sh)" };

        if (!await DockerAnswers())
            throw new InvalidOperationException(
                "No RabbitMQ and PostgreSQL for the tests: run them through 'make test' (which starts local servers), " +
                "or set PORTCULLIS_RABBITMQ and PORTCULLIS_POSTGRES, or start a Docker engine for Testcontainers.");

        var rabbitContainer = new RabbitMqBuilder("rabbitmq:3.13-alpine").Build();
        var postgresContainer = new PostgreSqlBuilder("postgres:15-alpine").Build();
        await Task.WhenAll(rabbitContainer.StartAsync(), postgresContainer.StartAsync());
        var servers = new TestServers
        {
            RabbitMq = rabbitContainer.GetConnectionString(),
            Postgres = postgresContainer.GetConnectionString(),
            Source = "Testcontainers",
        };
        servers._containers.Add(rabbitContainer);
        servers._containers.Add(postgresContainer);
        return servers;
    }

    /// <summary>Asks the engine itself (docker info): a Docker client alone does not run containers.</summary>
    private static async Task<bool> DockerAnswers()
    {
        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("docker", "info")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            });
            if (process is null) return false;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); return false; }
            return process.ExitCode == 0;
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var container in _containers) await container.DisposeAsync();
    }
}
