using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Portcullis.Defaults.Configuration;

public static partial class PortcullisConfigLoader
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build(); // unknown keys are errors: a misspelt rule field must not silently match everything

    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull | DefaultValuesHandling.OmitEmptyCollections)
        .Build();

    /// <summary>The policy section as YAML, in one canonical form (used to store and compare versions).</summary>
    public static string SerializePolicy(PolicyConfig policy) => Serializer.Serialize(policy);

    public static PortcullisConfig Parse(string yaml, string source = "portcullis.yaml")
    {
        try
        {
            return Deserializer.Deserialize<PortcullisConfig?>(yaml) ?? new PortcullisConfig();
        }
        catch (YamlException ex)
        {
            throw new InvalidOperationException(
                $"{source}: line {ex.Start.Line}, column {ex.Start.Column}: {(ex.InnerException ?? ex).Message}", ex);
        }
    }

    /// <summary>
    /// Replaces <c>${NAME}</c> and <c>${NAME:-default}</c> in the file with the environment's values, so one file
    /// serves the local stack and compose (only where a host differs). A variable without a value or default is
    /// an error that names it. Secrets stay <c>secret:NAME</c> references, never expanded here.
    /// </summary>
    public static string ExpandEnvironment(string text, string source, Func<string, string?> lookup) =>
        Variable().Replace(text, match =>
        {
            var name = match.Groups["name"].Value;
            if (lookup(name) is { Length: > 0 } value) return value;
            if (match.Groups["default"].Success) return match.Groups["default"].Value;
            throw new InvalidOperationException(
                $"{source} uses ${{{name}}}, which is not set: set the environment variable {name} or give a default as ${{{name}:-value}}.");
        });

    /// <summary>The environment variables a configuration file refers to, with whether each has a default.</summary>
    public static IReadOnlyList<(string Name, bool HasDefault)> VariablesIn(string text) =>
        [.. Variable().Matches(text).Select(m => (m.Groups["name"].Value, m.Groups["default"].Success))];

    [System.Text.RegularExpressions.GeneratedRegex(@"\$\{(?<name>[A-Z][A-Z0-9_]*)(?::-(?<default>[^}]*))?\}")]
    private static partial System.Text.RegularExpressions.Regex Variable();

    /// <summary>Just the policy section (default_effect, rules), as the admin API receives it.</summary>
    public static PolicyConfig ParsePolicy(string yaml)
    {
        try
        {
            return Deserializer.Deserialize<PolicyConfig?>(yaml) ?? new PolicyConfig();
        }
        catch (YamlException ex)
        {
            throw new InvalidOperationException(
                $"policy: line {ex.Start.Line}, column {ex.Start.Column}: {(ex.InnerException ?? ex).Message}", ex);
        }
    }

    public static PortcullisConfig Load(string path) =>
        File.Exists(path)
            ? Parse(ExpandEnvironment(File.ReadAllText(path), path, Environment.GetEnvironmentVariable), path)
            : throw new FileNotFoundException(
                $"The Portcullis configuration file '{path}' does not exist. Set Portcullis:ConfigPath " +
                "(env Portcullis__ConfigPath) to your portcullis.yaml.", path);

    /// <summary>Loads the file named by <c>Portcullis:ConfigPath</c> (default ./portcullis.yaml) and registers it as a singleton.</summary>
    public static PortcullisConfig AddPortcullisConfig(this IHostApplicationBuilder builder)
    {
        var path = builder.Configuration["Portcullis:ConfigPath"] ?? "portcullis.yaml";
        var config = Load(Path.GetFullPath(path, builder.Environment.ContentRootPath));
        builder.Services.AddSingleton(config);
        return config;
    }
}
