using System.Runtime.InteropServices;

namespace Portcullis.Masking;

/// <summary>How many values were masked, by entity and by rule; never the values.</summary>
public sealed class MaskingTally
{
    private readonly Dictionary<string, int> _entities = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _rules = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int> Counts => _entities;
    public IReadOnlyDictionary<string, int> Rules => _rules;

    public void Add(string entity, string rule)
    {
        CollectionsMarshal.GetValueRefOrAddDefault(_entities, entity, out _)++;
        CollectionsMarshal.GetValueRefOrAddDefault(_rules, rule, out _)++;
    }

    public void AddAll(MaskingTally other)
    {
        foreach (var (key, count) in other._entities) _entities[key] = _entities.GetValueOrDefault(key) + count;
        foreach (var (key, count) in other._rules) _rules[key] = _rules.GetValueOrDefault(key) + count;
    }
}
