using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Portcullis.Defaults.Bus;

public static class BusExtensions
{
    /// <summary>
    /// MassTransit over RabbitMQ, from <c>ConnectionStrings:RabbitMq</c> (an amqp:// URI). Every consumer
    /// registered by <paramref name="consumers"/> gets an endpoint named "{service}-{consumer}", so
    /// queues say which service owns them. Publishes wait for the broker's confirmation.
    /// </summary>
    public static IHostApplicationBuilder AddPortcullisBus(
        this IHostApplicationBuilder builder, string service, Action<IBusRegistrationConfigurator>? consumers = null)
    {
        var broker = BrokerAddress.Parse(builder.Configuration.GetConnectionString("RabbitMq"));
        builder.Services.AddMassTransit(bus =>
        {
            consumers?.Invoke(bus);
            bus.SetEndpointNameFormatter(new KebabCaseEndpointNameFormatter(service, false));
            bus.UsingRabbitMq((context, rabbit) =>
            {
                rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, service, host =>
                {
                    host.Username(broker.Username);
                    host.Password(broker.Password);
                    host.PublisherConfirmation = true;
                    host.RequestedConnectionTimeout(TimeSpan.FromSeconds(5));
                });
                rabbit.UseConsumeFilter(typeof(Telemetry.RequestTelemetryFilter<>), context);
                rabbit.ConfigureEndpoints(context);
            });
        });
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(options =>
        {
            // Readiness reports the broker; start-up does not hang on it, so /health/live answers at once.
            options.WaitUntilStarted = false;
            options.StopTimeout = TimeSpan.FromSeconds(10);
        });
        return builder;
    }

    /// <summary>
    /// One queue per instance, removed when the instance goes, so every instance hears every message (a new
    /// policy version, an approver's decision): the consumer's usual name with a suffix of this instance's own,
    /// or <paramref name="queue"/> where others must be told the name (a masking instance's chunk queue).
    /// </summary>
    public static void OnePerInstance(this IEndpointRegistrationConfigurator endpoint, string? queue = null)
    {
        endpoint.Temporary = true;
        if (queue is not null) endpoint.Name = queue;
        else endpoint.InstanceId = "-" + NewId.NextGuid().ToString("N")[..12];
    }
}

/// <summary>The parts of an amqp:// URI. The password is kept out of <see cref="ToString"/>.</summary>
public sealed record BrokerAddress(string Host, ushort Port, string VirtualHost, string Username, string Password)
{
    public static BrokerAddress Parse(string? uri)
    {
        if (string.IsNullOrWhiteSpace(uri))
            throw new InvalidOperationException(
                "ConnectionStrings:RabbitMq is not set. Set it to an amqp:// URI, e.g. the environment variable " +
                "ConnectionStrings__RabbitMq=amqp://user:password@127.0.0.1:5672/ (scripts/servers.sh start writes one in .local/servers.env).");
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("amqp" or "amqps"))
            throw new InvalidOperationException("ConnectionStrings:RabbitMq must be an amqp:// or amqps:// URI.");
        var userInfo = parsed.UserInfo.Split(':', 2);
        var virtualHost = Uri.UnescapeDataString(parsed.AbsolutePath.TrimStart('/'));
        return new BrokerAddress(
            parsed.Host,
            (ushort)(parsed.IsDefaultPort || parsed.Port < 0 ? (parsed.Scheme == "amqps" ? 5671 : 5672) : parsed.Port),
            virtualHost.Length == 0 ? "/" : virtualHost,
            userInfo.Length > 0 && userInfo[0].Length > 0 ? Uri.UnescapeDataString(userInfo[0]) : "guest",
            userInfo.Length > 1 ? Uri.UnescapeDataString(userInfo[1]) : "guest");
    }

    public override string ToString() => $"amqp://{Username}@{Host}:{Port}/{VirtualHost}";

    /// <summary>
    /// A RabbitMQ.Client connection factory for the services' own direct consumers and watchers: no automatic
    /// recovery (each caller reconnects in its own loop, so it knows when it was down), a 5 s connect timeout.
    /// </summary>
    public RabbitMQ.Client.ConnectionFactory ConnectionFactory(string clientName) => new()
    {
        HostName = Host, Port = Port, VirtualHost = VirtualHost, UserName = Username, Password = Password,
        ClientProvidedName = clientName, AutomaticRecoveryEnabled = false,
        RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
    };
}
