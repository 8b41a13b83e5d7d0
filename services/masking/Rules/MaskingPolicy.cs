using System.Text.RegularExpressions;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking.Detectors;

namespace Portcullis.Masking.Rules;

/// <summary>The masking section of portcullis.yaml, checked and compiled once.</summary>
public sealed class MaskingPolicy
{
    public required TextMasker Detectors { get; init; }
    public required MaskingStrategies Strategies { get; init; }
    public required MaskingStrategy DefaultStrategy { get; init; }
    public required IReadOnlyDictionary<string, MaskingStrategy> EntityStrategies { get; init; }
    public required int Keep { get; init; }
    public required IReadOnlyList<CompiledMaskingRule> Rules { get; init; }
    public required IReadOnlyDictionary<string, TextMasker> ConnectionDetectors { get; init; }

    /// <summary>The detectors for a connection's outputs: its own set when it names one, else the default.</summary>
    public TextMasker DetectorsFor(string connection) => ConnectionDetectors.GetValueOrDefault(connection, Detectors);

    public static MaskingPolicy From(MaskingConfig config, byte[]? hashKey)
    {
        var detectors = Select(config.Detectors, "masking.detectors");
        var byConnection = config.ByConnection.ToDictionary(c => c.Key,
            c => new TextMasker(Select(c.Value.Detectors, $"masking.by_connection.{c.Key}.detectors")), StringComparer.Ordinal);

        var strategies = new MaskingStrategies(hashKey);
        var entityStrategies = config.Strategies.ToDictionary(p => p.Key.ToUpperInvariant(), p => MaskingStrategies.Parse(p.Value));
        var rules = config.Rules.Select(rule => new CompiledMaskingRule(rule)).ToList();
        var usesHash = MaskingStrategies.Parse(config.DefaultStrategy) == MaskingStrategy.Hash
                       || entityStrategies.Values.Contains(MaskingStrategy.Hash) || rules.Any(r => r.Strategy == MaskingStrategy.Hash);
        if (usesHash && !strategies.CanHash)
            throw new InvalidOperationException("masking uses the hash strategy but masking.hash_key is not set (a secret reference to the HMAC key).");

        return new MaskingPolicy
        {
            Detectors = new TextMasker(detectors),
            Strategies = strategies,
            DefaultStrategy = MaskingStrategies.Parse(config.DefaultStrategy),
            EntityStrategies = entityStrategies,
            Keep = config.Keep,
            Rules = rules,
            ConnectionDetectors = byConnection,
        };
    }

    private static List<IDetector> Select(List<string> names, string where)
    {
        var unknown = names.Where(d => d != "all" && !DetectorCatalog.All.ContainsKey(d)).ToArray();
        if (unknown.Length > 0)
            throw new InvalidOperationException(
                $"{where} names unknown detectors: {string.Join(", ", unknown)}. Known: all, {string.Join(", ", DetectorCatalog.All.Keys)}.");
        return names.Contains("all") ? [.. DetectorCatalog.All.Values] : [.. names.Select(d => DetectorCatalog.All[d])];
    }

    public MaskingStrategy StrategyFor(string entity) => EntityStrategies.GetValueOrDefault(entity, DefaultStrategy);
}

public sealed class CompiledMaskingRule(MaskingRuleConfig rule)
{
    private readonly HashSet<string> _connections = new(rule.Connections, StringComparer.Ordinal);
    private readonly Regex[] _columns = [.. rule.Columns.Select(c => new Regex(
        "^" + Regex.Escape(c).Replace(@"\*", "[^.]*") + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant))];
    private readonly JsonPathPattern[] _paths = [.. rule.JsonPaths.Select(p => new JsonPathPattern(p))];
    private readonly Regex[] _headers = [.. rule.Headers.Select(h => new Regex(
        "^" + Regex.Escape(h).Replace(@"\*", ".*") + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant))];

    public string Id => rule.Id;
    public string Entity => rule.Entity;
    public MaskingStrategy Strategy { get; } = MaskingStrategies.Parse(rule.Strategy);
    public int? Keep => rule.Keep;

    public bool AppliesTo(string connection) => _connections.Count == 0 || _connections.Contains(connection);
    public bool MatchesColumn(string origin) => _columns.Any(c => c.IsMatch(origin));
    public bool MatchesPath(IReadOnlyList<PathItem> path) => _paths.Length > 0 && _paths.Any(p => p.IsMatch(path));
    public bool MatchesHeader(string name) => _headers.Any(h => h.IsMatch(name));
}
