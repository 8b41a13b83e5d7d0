using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Portcullis.Defaults.Health;
using Portcullis.Defaults.Logging;
using Portcullis.Defaults.OpenApi;
using Portcullis.Defaults.Problems;
using Portcullis.Defaults.Secrets;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.Defaults;

/// <summary>
/// What every Portcullis service has, on eShop's ServiceDefaults: <see cref="AddServiceDefaults"/> before the
/// service adds its own parts, <see cref="MapDefaultEndpoints"/> before it maps its own endpoints. What a service
/// opts into is beside it in this project and called from the service's own Extensions.cs: the bus
/// (<c>AddPortcullisBus</c>, with the consumers it listens to), bearer tokens (<c>AddPortcullisAuthentication</c>),
/// PostgreSQL readiness (<c>AddPostgresReadiness</c>) and the configuration file (<c>AddPortcullisConfig</c>).
/// </summary>
public static class Extensions
{
    /// <summary>Logging (credentials redacted), health checks, problem answers and secret references.</summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        // Logging:Console:FormatterName=json asks for JSON lines: ours, which redacts as the plain one does.
        builder.Logging.AddConsole(options => options.FormatterName =
                string.Equals(options.FormatterName, ConsoleFormatterNames.Json, StringComparison.OrdinalIgnoreCase)
                    ? RedactingJsonConsoleFormatter.FormatterName
                    : RedactingConsoleFormatter.FormatterName)
            .AddConsoleFormatter<RedactingConsoleFormatter, ConsoleFormatterOptions>()
            .AddConsoleFormatter<RedactingJsonConsoleFormatter, ConsoleFormatterOptions>();
        builder.AddPortcullisTelemetry();
        builder.Services.AddHealthChecks();
        builder.AddProblemAnswers();
        // Resolved only when a service asks for it: connections' credentials, masking's hash key.
        builder.Services.AddSingleton<SecretResolver>();
        builder.AddPortcullisOpenApi();
        return builder;
    }

    /// <summary>
    /// Failed requests answer problem documents in every environment (<see cref="ProblemAnswers"/>): never the
    /// developer exception page, which would echo the request's headers, bearer tokens included. Authentication
    /// and authorization come after them, so what they throw is answered too, wherever the service registered
    /// them (as the host would add them, but first in the pipeline). Then <c>/health/live</c> and <c>/health/ready</c>.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapPortcullisTelemetry();
        app.UseProblemAnswers();
        if (app.Services.GetService<IAuthenticationSchemeProvider>() is not null) app.UseAuthentication();
        if (app.Services.GetService<IAuthorizationHandlerProvider>() is not null) app.UseAuthorization();
        app.MapPortcullisHealth();
        app.MapPortcullisOpenApi();
        return app;
    }
}
