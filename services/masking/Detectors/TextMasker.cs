namespace Portcullis.Masking.Detectors;

/// <summary>Runs the enabled detectors over a text and resolves overlaps: the higher priority wins, then the longer.</summary>
public sealed class TextMasker(IReadOnlyList<IDetector> detectors)
{
    public IReadOnlyList<IDetector> Detectors => detectors;

    public List<Finding> Find(string text)
    {
        var all = new List<Finding>();
        var traits = TextTraits.Of(text);
        foreach (var detector in detectors)
            if (detector.MayContain(text, traits)) detector.Find(text, all);
        if (all.Count <= 1) return all;

        all.Sort((a, b) => b.Priority != a.Priority ? b.Priority.CompareTo(a.Priority) : b.Length.CompareTo(a.Length));
        var kept = new List<Finding>(all.Count);
        foreach (var finding in all)
            if (!kept.Exists(k => finding.Start < k.End && k.Start < finding.End)) kept.Add(finding);
        kept.Sort((a, b) => a.Start.CompareTo(b.Start));
        return kept;
    }

    /// <summary>The text with every finding replaced by <paramref name="replace"/>'s answer; null when nothing was found.</summary>
    public string? Mask(string text, Func<Finding, string, string> replace)
    {
        var findings = Find(text);
        if (findings.Count == 0) return null;
        var masked = new System.Text.StringBuilder(text.Length);
        var at = 0;
        foreach (var finding in findings)
        {
            masked.Append(text, at, finding.Start - at);
            masked.Append(replace(finding, text.Substring(finding.Start, finding.Length)));
            at = finding.End;
        }
        masked.Append(text, at, text.Length - at);
        return masked.ToString();
    }
}
