namespace Portcullis.Masking.Values;

/// <summary>How many values were masked, by entity and by rule; never the values.</summary>
public sealed class MaskingTally
{
    // A few (entity, rule) pairs per output, counted in place: a count is a scan of a handful of references
    // (detectors hand the same entity and rule strings every time), the dictionaries are made when read.
    private (string Entity, string Rule, int Count)[] _pairs = new (string, string, int)[8];
    private int _used;

    public IReadOnlyDictionary<string, int> Counts => Sum(static pair => pair.Entity);
    public IReadOnlyDictionary<string, int> Rules => Sum(static pair => pair.Rule);

    public void Add(string entity, string rule) => Add(entity, rule, 1);

    public void AddAll(MaskingTally other)
    {
        for (var i = 0; i < other._used; i++) Add(other._pairs[i].Entity, other._pairs[i].Rule, other._pairs[i].Count);
    }

    private void Add(string entity, string rule, int count)
    {
        for (var i = 0; i < _used; i++)
            if (ReferenceEquals(_pairs[i].Entity, entity) && ReferenceEquals(_pairs[i].Rule, rule))
            {
                _pairs[i].Count += count;
                return;
            }
        for (var i = 0; i < _used; i++)
            if (_pairs[i].Entity == entity && _pairs[i].Rule == rule)
            {
                _pairs[i].Count += count;
                return;
            }
        if (_used == _pairs.Length) Array.Resize(ref _pairs, _used * 2);
        _pairs[_used++] = (entity, rule, count);
    }

    private Dictionary<string, int> Sum(Func<(string Entity, string Rule, int Count), string> key)
    {
        var sums = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < _used; i++) sums[key(_pairs[i])] = sums.GetValueOrDefault(key(_pairs[i])) + _pairs[i].Count;
        return sums;
    }
}
