namespace Portcullis.Masking.Detectors;

/// <summary>Where a sensitive value stands in a text, and what it is.</summary>
public readonly record struct Finding(int Start, int Length, string Entity, int Priority)
{
    public int End => Start + Length;
}

/// <summary>
/// Finds one kind of sensitive value in text, with the validation that keeps false positives down.
/// <see cref="Entity"/> is its stable name (EMAIL, CARD, AWS_ACCESS_KEY, ...). Secrets outrank personal data
/// when two findings overlap (<see cref="Priority"/>).
/// </summary>
public interface IDetector
{
    string Entity { get; }
    int Priority { get; }

    /// <summary>A cheap test that the text could hold a value at all (skips the pattern when it cannot).</summary>
    bool MayContain(string text);

    void Find(string text, List<Finding> findings);
}
