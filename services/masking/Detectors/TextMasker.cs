namespace Portcullis.Masking.Detectors;

/// <summary>Runs the enabled detectors over a text and resolves overlaps: the higher priority wins, then the longer.</summary>
public sealed class TextMasker(IReadOnlyList<IDetector> detectors)
{
    private readonly Gate[] _gates = detectors.Count <= 64
        ? [.. detectors.Select(d => d.Gate)]
        : throw new ArgumentException("At most 64 detectors: which ones a text admits is kept as bits of one number.", nameof(detectors));

    // A text without signal characters passes only gates that need none, and those ask a length: below the
    // least of them nothing can pass (most property names and plain words are settled by this one test).
    private readonly int _quietBelow = detectors.Where(d => !d.Gate.NeedsSignal).Select(d => d.Gate.Length).DefaultIfEmpty(int.MaxValue).Min();

    public IReadOnlyList<IDetector> Detectors => detectors;

    /// <summary>Whether any detector could find anything in a text with these counts.</summary>
    public bool MayFind(in TextTraits traits) => Admitted(traits) != 0;

    /// <summary>The detectors whose gates admit a text with these counts, as bits (detector i is bit i); 0: none.</summary>
    public ulong Admitted(in TextTraits traits)
    {
        if (traits.Signal == 0 && traits.Length < _quietBelow) return 0;
        var admitted = 0UL;
        for (var i = 0; i < _gates.Length; i++)
            if (_gates[i].Admits(traits)) admitted |= 1UL << i;
        return admitted;
    }

    /// <summary>The findings in <paramref name="text"/>, in order of position and without overlaps, into <paramref name="findings"/> (cleared first).</summary>
    public void Find(ReadOnlySpan<char> text, in TextTraits traits, List<Finding> findings) => Find(text, Admitted(traits), findings);

    /// <summary>As <see cref="Find(ReadOnlySpan{char}, in TextTraits, List{Finding})"/>, for the detectors already admitted (<see cref="Admitted"/>).</summary>
    public void Find(ReadOnlySpan<char> text, ulong admitted, List<Finding> findings)
    {
        findings.Clear();
        DigitShape? shape = null; // scanned once, when a detector of digit values first asks
        for (; admitted != 0; admitted &= admitted - 1)
        {
            var detector = detectors[System.Numerics.BitOperations.TrailingZeroCount(admitted)];
            if (detector.Shape is { } admits && !admits(shape ??= DigitShape.Of(text))) continue;
            detector.Find(text, findings);
        }
        if (findings.Count > 1) Resolve(findings);
    }

    public List<Finding> Find(string text)
    {
        var findings = new List<Finding>();
        Find(text, TextTraits.Of(text), findings);
        return findings;
    }

    private static void Resolve(List<Finding> findings)
    {
        findings.Sort(static (a, b) =>
            a.Priority != b.Priority ? b.Priority.CompareTo(a.Priority)
            : a.Length != b.Length ? b.Length.CompareTo(a.Length)
            : a.Start != b.Start ? a.Start.CompareTo(b.Start)
            : string.CompareOrdinal(a.Entity, b.Entity));
        // Keep each finding that overlaps none kept before it, compacting the list in place.
        var kept = 0;
        for (var i = 0; i < findings.Count; i++)
        {
            var finding = findings[i];
            var overlaps = false;
            for (var k = 0; k < kept && !overlaps; k++)
                overlaps = finding.Start < findings[k].End && findings[k].Start < finding.End;
            if (!overlaps) findings[kept++] = finding;
        }
        findings.RemoveRange(kept, findings.Count - kept);
        findings.Sort(static (a, b) => a.Start.CompareTo(b.Start));
    }
}
