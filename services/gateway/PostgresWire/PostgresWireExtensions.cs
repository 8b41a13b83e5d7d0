using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Portcullis.Gateway.PostgresWire;

public static class PostgresWireExtensions
{
    public const string Section = "PostgresWire";

    /// <summary>
    /// The PostgreSQL wire listener, on its own Kestrel endpoint when <c>PostgresWire:Port</c> is set. Kestrel binds
    /// endpoints declared in code instead of the hosting URLs, so the HTTP URLs (<c>--urls</c>, ASPNETCORE_URLS,
    /// ASPNETCORE_HTTP_PORTS) are declared here too, unchanged.
    /// </summary>
    public static IHostApplicationBuilder AddPostgresWire(this IHostApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(Section);
        builder.Services.Configure<PostgresWireOptions>(section);
        var settings = section.Get<PostgresWireOptions>() ?? new PostgresWireOptions();
        if (settings.Port is not > 0) return builder;
        builder.Services.AddSingleton<WireStatements>();
        builder.Services.AddSingleton<WireAuthenticator>();
        builder.Services.AddSingleton<WireCancellation>();
        builder.Services.AddSingleton<PostgresWireHandler>();
        builder.Services.Configure<KestrelServerOptions>(kestrel =>
        {
            foreach (var url in HttpUrls(builder.Configuration)) ListenHttp(kestrel, url);
            Listen(kestrel, settings.ListenAddress, settings.Port.Value, l => l.UseConnectionHandler<PostgresWireHandler>());
        });
        return builder;
    }

    private static IEnumerable<string> HttpUrls(IConfiguration configuration)
    {
        if (configuration["urls"] is { Length: > 0 } urls) return urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (configuration["http_ports"] is { Length: > 0 } ports)
            return ports.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => $"http://*:{p}");
        return ["http://localhost:5000"];
    }

    private static void ListenHttp(KestrelServerOptions kestrel, string url)
    {
        var address = BindingAddress.Parse(url);
        if (!string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"With the PostgreSQL listener on, the gateway's URLs must be http:// (got '{url}').");
        Listen(kestrel, address.Host, address.Port, _ => { });
    }

    private static void Listen(KestrelServerOptions kestrel, string host, int port, Action<ListenOptions> configure)
    {
        if (host is "*" or "+" or "0.0.0.0" or "[::]") kestrel.ListenAnyIP(port, configure);
        else if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) kestrel.ListenLocalhost(port, configure);
        else kestrel.Listen(IPAddress.Parse(host.Trim('[', ']')), port, configure);
    }
}
