using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Portcullis.Defaults.Health;

/// <summary>
/// Work a service does once when it starts, before it reports ready, so that its first real requests do not pay for
/// what is done once per process (Marten's generated storage code and compiled queries, first connections): a gateway
/// waits a bounded time for an answer and fails closed, and a cold service after a restart would otherwise refuse the
/// first requests it gets. A warm-up that fails is logged and not retried forever: readiness then rests on the other
/// checks (PostgreSQL, the bus), and the first requests pay the cost as before.
/// </summary>
public static class WarmUpExtensions
{
    /// <summary>Runs <paramref name="warmUp"/> in a scope of its own at start; <c>/health/ready</c> is unready until it ends.</summary>
    public static IHostApplicationBuilder AddWarmUp(this IHostApplicationBuilder builder, string name,
        Func<IServiceProvider, CancellationToken, Task> warmUp)
    {
        if (!builder.Services.Any(s => s.ServiceType == typeof(WarmUps)))
        {
            builder.Services.AddSingleton<WarmUps>();
            builder.Services.AddHostedService(provider => provider.GetRequiredService<WarmUps>());
            builder.Services.AddHealthChecks().Add(new HealthCheckRegistration("warm-up",
                provider => provider.GetRequiredService<WarmUps>(), HealthStatus.Unhealthy, [HealthExtensions.ReadyTag]));
        }
        builder.Services.AddSingleton(new WarmUp(name, warmUp));
        return builder;
    }
}

public sealed record WarmUp(string Name, Func<IServiceProvider, CancellationToken, Task> Run);

/// <summary>Runs the registered warm-ups one after another and answers the readiness check meanwhile.</summary>
public sealed class WarmUps(IEnumerable<WarmUp> warmUps, IServiceScopeFactory scopes, ILogger<WarmUps> logger)
    : BackgroundService, IHealthCheck
{
    private const int Attempts = 3;
    private volatile string? _current = "starting";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var warmUp in warmUps)
        {
            _current = warmUp.Name;
            for (var attempt = 1; attempt <= Attempts && !stoppingToken.IsCancellationRequested; attempt++)
            {
                var started = DateTime.UtcNow;
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    await warmUp.Run(scope.ServiceProvider, stoppingToken);
                    logger.LogInformation("Warm-up {WarmUp} done in {Milliseconds:F0} ms", warmUp.Name,
                        (DateTime.UtcNow - started).TotalMilliseconds);
                    break;
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(ex, "Warm-up {WarmUp} failed (attempt {Attempt} of {Attempts}); {Next}", warmUp.Name,
                        attempt, Attempts, attempt < Attempts ? "trying again in a second" : "the first requests pay its cost instead");
                    if (attempt < Attempts) await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                }
            }
        }
        _current = null;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(_current is { } name
            ? new HealthCheckResult(context.Registration.FailureStatus, $"warming up: {name}")
            : HealthCheckResult.Healthy());
}
