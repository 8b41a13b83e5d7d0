using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Validates a match and says where in it the sensitive value stands (the whole match, or a part such as the
/// password of a URL); false rejects the match.
/// </summary>
public delegate bool Locate(ReadOnlySpan<char> match, out int start, out int length);

/// <summary>A detector made of a gate on character counts, a pattern, and a validation that locates the value.</summary>
public sealed class PatternDetector(string entity, int priority, Regex pattern, Gate gate, Locate? locate = null,
    Func<DigitShape, bool>? shape = null, Literals? literals = null)
    : IDetector
{
    public string Entity => entity;
    public int Priority => priority;

    public Gate Gate => gate;
    public Func<DigitShape, bool>? Shape => shape;
    public Literals? Literals => literals;

    public void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        // EnumerateMatches allocates nothing: no Match objects, no captures.
        foreach (var match in pattern.EnumerateMatches(text))
        {
            if (locate is null)
            {
                findings.Add(new Finding(match.Index, match.Length, entity, priority));
            }
            else if (locate(text.Slice(match.Index, match.Length), out var start, out var length) && length > 0)
            {
                findings.Add(new Finding(match.Index + start, length, entity, priority));
            }
        }
    }

    /// <summary>A validation of the whole match, which is the value.</summary>
    public static Locate Whole(Func<ReadOnlySpan<char>, bool> isValid) => (ReadOnlySpan<char> match, out int start, out int length) =>
    {
        (start, length) = (0, match.Length);
        return isValid(match);
    };
}
