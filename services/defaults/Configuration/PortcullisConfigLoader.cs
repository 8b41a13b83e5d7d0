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

    // For a part of another service's section: the keys the part names, the others left to the section's owner.
    private static readonly IDeserializer PartDeserializer = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .IgnoreUnmatchedProperties()
        .Build();

    private static readonly ISerializer Serializer = new SerializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull | DefaultValuesHandling.OmitEmptyCollections)
        .Build();

    /// <summary>A section's model as YAML, in one canonical form (the policy stores and compares its versions so).</summary>
    public static string Serialize(object section) => Serializer.Serialize(section);

    /// <summary>The file: its connections, and each service's section kept for that service to read.</summary>
    public static PortcullisConfig Parse(string yaml, string source = "portcullis.yaml")
    {
        var config = Read(source, () => Deserializer.Deserialize<PortcullisConfig?>(yaml)) ?? new PortcullisConfig();
        config.Policy.Source = config.Masking.Source = source;
        return config;
    }

    /// <summary>One section on its own (as an admin API receives it), every key checked.</summary>
    public static T ParseSection<T>(string yaml, string source) where T : class, new() =>
        Read(source, () => Deserializer.Deserialize<T?>(yaml)) ?? new T();

    internal static T ReadSection<T>(ConfigSection section, bool every) where T : class, new() =>
        section.IsEmpty ? new T()
            : Read(section.Source, () => (every ? Deserializer : PartDeserializer).Deserialize<T?>(section.Replay())) ?? new T();

    private static T? Read<T>(string source, Func<T?> deserialize)
    {
        try
        {
            return deserialize();
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
