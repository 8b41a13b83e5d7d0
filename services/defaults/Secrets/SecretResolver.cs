using System.Collections.Concurrent;
using System.Text.Json;
using Dapr.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Portcullis.Defaults.Hosting;

namespace Portcullis.Defaults.Secrets;

/// <summary>
/// Resolves credential references ("secret:NAME") for connections: from the Dapr secret store named in
/// <c>Secrets:DaprStore</c> when a Dapr sidecar is configured (DAPR_GRPC_ENDPOINT or DAPR_GRPC_PORT), otherwise
/// from the environment (PORTCULLIS_SECRET_NAME) or the JSON file in <c>Secrets:File</c>. Values never reach
/// logs, responses or events; a reference that cannot be resolved makes the connection unusable (fail closed).
/// </summary>
public sealed class SecretResolver(IConfiguration configuration, ILogger<SecretResolver> logger) : IDisposable
{
    public const string Prefix = "secret:";

    private readonly ConcurrentDictionary<string, string> _cache = new(StringComparer.Ordinal);
    private readonly Lazy<DaprClient?> _dapr = new(() => DaprConfigured(configuration)
        ? new DaprClientBuilder().Build()
        : null);
    private readonly Lazy<IReadOnlyDictionary<string, string>> _file = new(() => LoadFile(configuration["Secrets:File"]));

    public static bool IsReference(string? value) => value?.StartsWith(Prefix, StringComparison.Ordinal) == true;

    /// <summary>The value itself when it is not a reference; the secret's value when it is.</summary>
    public async Task<string> ResolveAsync(string value, CancellationToken cancellationToken)
    {
        if (!IsReference(value)) return value;
        var name = value[Prefix.Length..];
        if (_cache.TryGetValue(name, out var cached)) return cached;

        string? resolved = null;
        if (_dapr.Value is { } dapr)
        {
            var store = configuration["Secrets:DaprStore"]!;
            var secret = await dapr.GetSecretAsync(store, name, cancellationToken: cancellationToken);
            secret.TryGetValue(name, out resolved);
            logger.LogInformation("Secret {Name} resolved from Dapr secret store {Store}", name, store);
        }
        resolved ??= Environment.GetEnvironmentVariable("PORTCULLIS_SECRET_" + name.ToUpperInvariant().Replace('-', '_').Replace('.', '_'));
        if (resolved is null && _file.Value.TryGetValue(name, out var fromFile)) resolved = fromFile;
        if (resolved is null)
            throw new SecretNotFoundException(
                $"The secret '{name}' is not available: put it in the Dapr secret store, the environment variable " +
                $"PORTCULLIS_SECRET_{name.ToUpperInvariant().Replace('-', '_')}, or the secrets file (Secrets:File).");
        return _cache[name] = resolved;
    }

    private static bool DaprConfigured(IConfiguration configuration) =>
        !string.IsNullOrEmpty(configuration["Secrets:DaprStore"]) && DaprSidecar.IsConfigured;

    private static IReadOnlyDictionary<string, string> LoadFile(string? path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path)) return new Dictionary<string, string>();
        return JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) ?? new Dictionary<string, string>();
    }

    public void Dispose()
    {
        if (_dapr.IsValueCreated) _dapr.Value?.Dispose();
    }
}

public sealed class SecretNotFoundException(string message) : Exception(message);
