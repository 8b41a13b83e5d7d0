using System.Security.Cryptography;
using System.Text;
using JasperFx.Events;
using Marten;
using Marten.Exceptions;
using MassTransit;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Versions;

/// <summary>
/// The policy's versions, stored as events in one Marten stream. The configuration file bootstraps version 1
/// (and publishes a new version whenever its policy section changes); admins publish versions through the
/// API. A version is checked by compiling it before it is stored, so no invalid policy is ever in force.
/// </summary>
public sealed class PolicyVersions(IDocumentStore store, PortcullisConfig file, PolicyProvider provider,
    PolicyTestRunner tests, TimeProvider clock, ILogger<PolicyVersions> logger)
{
    public const string StreamId = "policy";
    public const string FileSource = "file";
    public const string AdminSource = "admin";

    /// <summary>Loads the latest version into the provider, first publishing the file's policy if it is new.</summary>
    public async Task<PolicyDocument> LoadAsync(CancellationToken cancellationToken)
    {
        var fileYaml = file.Policy.Read<PolicyConfig>().ToYaml();
        var fileHash = Hash(fileYaml);
        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<PolicyDocument>(StreamId, cancellationToken);
        if (stream.Aggregate?.LastFileHash != fileHash)
        {
            var version = (stream.Aggregate?.Version ?? 0) + 1;
            CompileTested(fileYaml, version); // the service does not start on an invalid file, nor one whose tests fail
            stream.AppendOne(new PolicyVersionPublished(StreamId, version, fileYaml, fileHash, FileSource,
                "file:portcullis.yaml", "bootstrapped from the configuration file", clock.GetUtcNow()));
            await session.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Policy version {Version} published from the configuration file", version);
        }
        return await ReloadAsync(cancellationToken);
    }

    /// <summary>The version in force, aggregated from the stream.</summary>
    public async Task<PolicyDocument> CurrentAsync(CancellationToken cancellationToken)
    {
        await using var session = store.QuerySession();
        return await session.Events.AggregateStreamAsync<PolicyDocument>(StreamId, token: cancellationToken)
               ?? throw new InvalidOperationException("The policy stream is empty.");
    }

    public async Task<PolicyDocument> ReloadAsync(CancellationToken cancellationToken)
    {
        var current = await CurrentAsync(cancellationToken);
        if (provider.IsLoaded && provider.Current.Version == Label(current.Version)) return current;
        provider.Replace(Compile(current.Yaml, current.Version));
        logger.LogInformation("Policy version {Version} is in force", current.Version);
        return current;
    }

    /// <summary>Publishes a new version, if <paramref name="expectedVersion"/> is still the latest.</summary>
    public async Task<PolicyPublished> PublishAsync(string yaml, int expectedVersion, string publishedBy, string? comment,
        IPublishEndpoint bus, CancellationToken cancellationToken)
    {
        // Throws InvalidOperationException with every problem found, PolicyTestsFailedException naming every failing case.
        var compiled = CompileTested(yaml, expectedVersion + 1);
        await using var session = store.LightweightSession();
        var stream = await session.Events.FetchForWriting<PolicyDocument>(StreamId, expectedVersion, cancellationToken);
        var published = new PolicyVersionPublished(StreamId, expectedVersion + 1, yaml, Hash(yaml), AdminSource,
            publishedBy, comment, clock.GetUtcNow());
        stream.AppendOne(published);
        await session.SaveChangesAsync(cancellationToken);

        var change = new PolicyPublished(NewId.NextGuid(), $"admin:{publishedBy}", published.Version, published.ContentHash,
            publishedBy, comment, compiled.Rules.Count, published.PublishedAt);
        await bus.Publish(change, cancellationToken); // every instance reloads; the audit records the change
        return change;
    }

    public async Task<IReadOnlyList<PolicyVersionPublished>> HistoryAsync(CancellationToken cancellationToken)
    {
        await using var session = store.QuerySession();
        var events = await session.Events.FetchStreamAsync(StreamId, token: cancellationToken);
        return [.. events.Select(e => e.Data).OfType<PolicyVersionPublished>()];
    }

    public static string Label(int version) => $"v{version}";

    /// <summary>Runs the tests a policy section carries against that section (the version in force when none is given).</summary>
    public async Task<PolicyTestReport> RunTestsAsync(string? yaml, CancellationToken cancellationToken)
    {
        var current = await CurrentAsync(cancellationToken);
        var candidate = yaml ?? current.Yaml;
        var version = yaml is null ? Label(current.Version) : "candidate";
        var config = PolicyConfig.Parse(candidate);
        return tests.Run(Compile(config, version), config.Tests);
    }

    /// <summary>A candidate section, compiled over the file's connections (throws InvalidOperationException when invalid).</summary>
    public CompiledPolicy CompileCandidate(string yaml) => Compile(PolicyConfig.Parse(yaml), "candidate");

    /// <summary>Every stored version, compiled, by its label; one that no longer compiles (a connection since removed) is left out.</summary>
    public async Task<IReadOnlyDictionary<string, CompiledPolicy>> CompiledHistoryAsync(CancellationToken cancellationToken)
    {
        var compiled = new Dictionary<string, CompiledPolicy>(StringComparer.Ordinal);
        foreach (var version in await HistoryAsync(cancellationToken))
        {
            try
            {
                compiled[Label(version.Version)] = Compile(version.Yaml, version.Version);
            }
            catch (InvalidOperationException ex)
            {
                logger.LogWarning("Policy version {Version} no longer compiles and is compared by its recorded decisions: {Problem}", version.Version, ex.Message);
            }
        }
        return compiled;
    }

    private CompiledPolicy Compile(string yaml, int version) => Compile(PolicyConfig.Parse(yaml), Label(version));

    private CompiledPolicy Compile(PolicyConfig config, string label) =>
        CompiledPolicy.From(config, file.Connections, MaskedColumnRules.From(file), label);

    private CompiledPolicy CompileTested(string yaml, int version)
    {
        var config = PolicyConfig.Parse(yaml);
        var compiled = Compile(config, Label(version));
        var report = tests.Run(compiled, config.Tests);
        return report.Failed > 0 ? throw new PolicyTestsFailedException(report) : compiled;
    }

    private static string Hash(string yaml) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml)))[..16];
}
