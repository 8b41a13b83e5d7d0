using System.Text;
using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Validates a match and says where in it the sensitive value stands (the whole match, or a part such as the
/// password of a URL); false rejects the match.
/// </summary>
public delegate bool Locate(ReadOnlySpan<char> match, out int start, out int length);

/// <summary>Judges a match by what stands around it in <paramref name="text"/>; false rejects it.</summary>
public delegate bool Accept(ReadOnlySpan<char> text, int start, int length);

/// <summary>
/// A detector made of a gate on character counts, a pattern, and a validation that locates the value. A
/// pattern may come with a hand-written form of itself for all-ASCII texts (<see cref="AsciiMatchers"/>).
/// </summary>
public sealed class PatternDetector(string entity, int priority, Regex pattern, Gate gate, Locate? locate = null,
    Func<DigitShape, bool>? shape = null, Literals? literals = null, NextMatch? ascii = null, Accept? accept = null)
    : IDetector
{
    public string Entity => entity;
    public int Priority => priority;

    public Gate Gate => gate;
    public Func<DigitShape, bool>? Shape => shape;
    public Literals? Literals => literals;

    /// <summary>The pattern, which decides what matches.</summary>
    public Regex Pattern => pattern;

    /// <summary>The pattern's hand-written form for all-ASCII texts, if it has one.</summary>
    public NextMatch? AsciiMatcher => ascii;

    public void Find(ReadOnlySpan<char> text, List<Finding> findings)
    {
        if (ascii is not null && Ascii.IsValid(text))
        {
            for (var from = 0; from < text.Length;)
            {
                var index = ascii(text, from, out var length);
                if (index < 0) break;
                Found(text, index, length, findings);
                from = index + length;
            }
            return;
        }
        // EnumerateMatches allocates nothing: no Match objects, no captures.
        foreach (var match in pattern.EnumerateMatches(text)) Found(text, match.Index, match.Length, findings);
    }

    private void Found(ReadOnlySpan<char> text, int index, int length, List<Finding> findings)
    {
        if (accept is not null && !accept(text, index, length)) return;
        if (locate is null)
        {
            findings.Add(new Finding(index, length, entity, priority));
        }
        else if (locate(text.Slice(index, length), out var start, out var valueLength) && valueLength > 0)
        {
            findings.Add(new Finding(index + start, valueLength, entity, priority));
        }
    }

    /// <summary>A validation of the whole match, which is the value.</summary>
    public static Locate Whole(Func<ReadOnlySpan<char>, bool> isValid) => (ReadOnlySpan<char> match, out int start, out int length) =>
    {
        (start, length) = (0, match.Length);
        return isValid(match);
    };
}
