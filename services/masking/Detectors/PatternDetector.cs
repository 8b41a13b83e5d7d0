using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

/// <summary>A detector made of a pattern, an optional group that holds the value, and an optional validation.</summary>
public class PatternDetector(string entity, int priority, Regex pattern, Func<string, TextTraits, bool>? mayContain = null,
    Func<Match, bool>? validate = null, string? valueGroup = null) : IDetector
{
    public string Entity => entity;
    public int Priority => priority;

    public bool MayContain(string text, TextTraits traits) => mayContain?.Invoke(text, traits) ?? true;

    public void Find(string text, List<Finding> findings)
    {
        for (var match = pattern.Match(text); match.Success; match = match.NextMatch())
        {
            if (validate is not null && !validate(match)) continue;
            var value = valueGroup is null ? match.Groups[0] : match.Groups[valueGroup];
            if (value.Success && value.Length > 0) findings.Add(new Finding(value.Index, value.Length, entity, priority));
        }
    }
}
