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
    bool MayContain(string text, TextTraits traits);

    void Find(string text, List<Finding> findings);
}

/// <summary>What the pre-checks of every detector ask of a text, counted once per text.</summary>
public readonly record struct TextTraits(int Digits)
{
    public static TextTraits Of(string text)
    {
        var span = text.AsSpan();
        var digits = 0;
        for (var at = span.IndexOfAnyInRange('0', '9'); at >= 0; at = span.IndexOfAnyInRange('0', '9'))
        {
            digits++;
            span = span[(at + 1)..];
        }
        return new TextTraits(digits);
    }
}
