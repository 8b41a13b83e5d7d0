using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Policy.Versions;

/// <summary>A version was published (by this instance or another): load it from the store, the source of truth.</summary>
public sealed class PolicyPublishedConsumer(PolicyVersions versions) : IConsumer<PolicyPublished>
{
    public Task Consume(ConsumeContext<PolicyPublished> context) => versions.ReloadAsync(context.CancellationToken);
}
