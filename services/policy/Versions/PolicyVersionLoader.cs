namespace Portcullis.Policy.Versions;

/// <summary>Puts the latest policy version in force before the service consumes any request.</summary>
public sealed class PolicyVersionLoader(IServiceProvider services) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using var scope = services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<PolicyVersions>().LoadAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
