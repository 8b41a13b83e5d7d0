using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Portcullis.Defaults.Health;

public static class HealthExtensions
{
    public const string ReadyTag = "ready";

    /// <summary>Adds a readiness check that opens a connection to <c>ConnectionStrings:Postgres</c>.</summary>
    public static IHostApplicationBuilder AddPostgresReadiness(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException(
                "ConnectionStrings:Postgres is not set. Set the environment variable ConnectionStrings__Postgres " +
                "(scripts/servers.sh start writes one in .local/servers.env).");
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "postgres", _ => new PostgresHealthCheck(connectionString), HealthStatus.Unhealthy, [ReadyTag],
            TimeSpan.FromSeconds(5)));
        return builder;
    }

    /// <summary>
    /// <c>/health/live</c>: the process answers. <c>/health/ready</c>: every check tagged "ready"
    /// (MassTransit's bus check is tagged so, and so is PostgreSQL's where a service uses it).
    /// </summary>
    public static WebApplication MapPortcullisHealth(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(ReadyTag),
            ResponseWriter = HealthReportWriter.WriteJson,
        });
        return app;
    }
}
