using Portcullis.Defaults.Configuration;

namespace Portcullis.Masking.Detectors;

/// <summary>The detectors switched on in portcullis.yaml, applied in order to each text value.</summary>
public sealed class DetectorSet(IReadOnlyList<IDetector> detectors)
{
    private static readonly Dictionary<string, Func<IDetector>> Known = new(StringComparer.OrdinalIgnoreCase)
    {
        ["email"] = () => new EmailDetector(),
    };

    public IReadOnlyList<IDetector> Detectors => detectors;

    public static DetectorSet From(MaskingConfig config)
    {
        var unknown = config.Detectors.Where(name => !Known.ContainsKey(name)).ToArray();
        if (unknown.Length > 0)
            throw new InvalidOperationException(
                $"masking.detectors names unknown detectors: {string.Join(", ", unknown)}. Known: {string.Join(", ", Known.Keys)}.");
        return new DetectorSet([.. config.Detectors.Select(name => Known[name]())]);
    }

    public string Mask(string text, MaskingTally tally)
    {
        foreach (var detector in detectors)
        {
            text = detector.Mask(text, out var count);
            tally.Add(detector.Entity, count);
        }
        return text;
    }
}

/// <summary>Counts of masked values by entity; never the values.</summary>
public sealed class MaskingTally
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, int> Counts => _counts;

    public void Add(string entity, int count)
    {
        if (count > 0) _counts[entity] = _counts.GetValueOrDefault(entity) + count;
    }
}
