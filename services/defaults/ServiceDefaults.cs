using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Portcullis.Defaults.Logging;
using Portcullis.Defaults.Problems;

namespace Portcullis.Defaults;

public static class ServiceDefaults
{
    /// <summary>Logging (credentials redacted), health checks and problem answers: what every Portcullis service has.</summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(options => options.FormatterName = RedactingConsoleFormatter.FormatterName)
            .AddConsoleFormatter<RedactingConsoleFormatter, ConsoleFormatterOptions>();
        builder.Services.AddHealthChecks();
        builder.AddProblemAnswers();
        return builder;
    }

    /// <summary>
    /// Failed requests answer problem documents in every environment (<see cref="ProblemAnswers"/>): never the
    /// developer exception page, which would echo the request's headers, bearer tokens included.
    /// </summary>
    public static WebApplication UseServiceDefaults(this WebApplication app)
    {
        app.UseProblemAnswers();
        return app;
    }
}
