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

    /// <summary>
    /// A necessary condition on the text's character counts for any value to be found: a text it does not
    /// admit is not searched. Counts are all it asks, so it answers for UTF-8 bytes too.
    /// </summary>
    Gate Gate { get; }

    /// <summary>A second pre-check, on digit groups, for detectors of digit values; null when the gate says all.</summary>
    Func<DigitShape, bool>? Shape { get; }

    /// <summary>A third pre-check: words of which the pattern needs at least one; null when it needs none.</summary>
    Literals? Literals { get; }

    void Find(ReadOnlySpan<char> text, List<Finding> findings);
}

/// <summary>
/// Words a pattern cannot match without: at least one of <see cref="Words"/> stands in any text it matches,
/// exactly, or with <see cref="IgnoreCase"/> in any case. A case-insensitive pattern may also match letters
/// outside ASCII (the Kelvin sign is a 'k' to it), so an ignore-case check only rules out texts that are all ASCII.
/// </summary>
public sealed record Literals(bool IgnoreCase, params string[] Words);
