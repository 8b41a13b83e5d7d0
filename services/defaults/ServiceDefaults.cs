using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Portcullis.Defaults;

public static class ServiceDefaults
{
    /// <summary>Logging, health checks and problem details: what every Portcullis service has.</summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.TimestampFormat = "HH:mm:ss.fff ";
        });
        builder.Services.AddHealthChecks();
        builder.Services.AddProblemDetails();
        return builder;
    }
}
