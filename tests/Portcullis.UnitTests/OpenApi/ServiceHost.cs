using System.Reflection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Portcullis.UnitTests.OpenApi;

/// <summary>
/// A service's real Program, hosted in process on a test server: its own configuration file, endpoints and
/// OpenAPI document, but none of its background work (the bus, the store's migrations, the projection daemon),
/// so nothing here reaches RabbitMQ or PostgreSQL. <typeparamref name="TEntry"/> is any type of the service's assembly.
/// </summary>
public sealed class ServiceHost<TEntry>(string environment = "Production") : WebApplicationFactory<TEntry>, IServiceHost where TEntry : class
{
    private static readonly string RepositoryRoot = typeof(ServiceHost<>).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value!;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(environment);
        // Read while the service adds its parts: given as settings, which the factory passes as the program's arguments.
        builder.UseSetting("Portcullis:ConfigPath", Path.Combine(RepositoryRoot, "portcullis.yaml"));
        builder.UseSetting("Auth:Authority", "http://127.0.0.1:9/"); // never asked: no token is checked here
        builder.UseSetting("Auth:RequireHttpsMetadata", "false");
        builder.UseSetting("ConnectionStrings:Postgres", "Host=127.0.0.1;Port=9;Database=none;Username=none;Password=none");
        builder.UseSetting("ConnectionStrings:RabbitMq", "amqp://none:none@127.0.0.1:9/");
        builder.UseSetting("Console:ClientId", "portcullis-console");
        builder.UseSetting("Console:ClientSecret", "not-used");
        builder.ConfigureServices(services =>
        {
            foreach (var background in services.Where(s => s.ServiceType == typeof(IHostedService)
                                                           && s.ImplementationType?.Name != "GenericWebHostService").ToList())
                services.Remove(background);
        });
    }
}

/// <summary>Any of the hosted services, whatever its entry type.</summary>
public interface IServiceHost : IAsyncDisposable
{
    IServiceProvider Services { get; }
    HttpClient CreateClient();
}
