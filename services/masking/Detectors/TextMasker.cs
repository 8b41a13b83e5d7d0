using Portcullis.Defaults.Masking;
using System.Buffers;
using System.Numerics;
using System.Text;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// Runs the enabled detectors over a text and resolves overlaps: the higher priority wins, then the longer.
/// A text that may read differently once normalised (not all ASCII, a percent-escape, a spelled-out "at")
/// is searched in its normalised form (<see cref="TextNormaliser"/>) and its findings mapped back to the
/// original; base64 and hex runs are decoded and searched too (<see cref="EncodedBlobs"/>), two levels deep.
/// </summary>
public sealed class TextMasker
{
    /// <summary>Bits of <see cref="Admitted"/> past the detectors': the text may need normalising; it may hold an encoded run.</summary>
    public const ulong NormaliseBit = 1UL << 63, BlobBit = 1UL << 62;

    internal const int MaxDepth = 2;

    private readonly IReadOnlyList<IDetector> _detectors;
    private readonly bool _normalise;
    private readonly ulong _all;
    private readonly Gate[] _gates;
    private readonly HashSet<string> _entities;

    // A text without signal characters passes only gates that need none, and those ask a length: below the
    // least of them nothing can pass (most property names and plain words are settled by this one test).
    private readonly int _quietBelow;

    // The literal pre-checks, all detectors' words in one search per kind (exact, any case), and each detector's
    // own for when that search hits. A text with none of the words skips all those detectors at once.
    private readonly LiteralCheck _exact;
    private readonly LiteralCheck _anyCase;

    /// <param name="normalise">False: the detectors alone, on the text as given (for tests of the gates).</param>
    public TextMasker(IReadOnlyList<IDetector> detectors, bool normalise = true)
    {
        if (detectors.Count > 62)
            throw new ArgumentException("At most 62 detectors: which ones a text admits is kept as bits of one number.", nameof(detectors));
        _detectors = detectors;
        _normalise = normalise;
        _all = detectors.Count == 0 ? 0 : ulong.MaxValue >> (64 - detectors.Count);
        _gates = [.. detectors.Select(d => d.Gate)];
        _entities = new HashSet<string>(detectors.Select(d => d.Entity), StringComparer.Ordinal);
        _quietBelow = detectors.Where(d => !d.Gate.NeedsSignal).Select(d => d.Gate.Length).DefaultIfEmpty(int.MaxValue).Min();
        for (var i = 0; i < detectors.Count; i++)
        {
            if (Disguises.Joinable(new Finding(0, 0, detectors[i].Entity, detectors[i].Priority))) Joinable |= 1UL << i;
            if (detectors[i].Entity is "EMAIL" or "CARD") Reversible |= 1UL << i;
        }
        _exact = new LiteralCheck(detectors, ignoreCase: false);
        _anyCase = new LiteralCheck(detectors, ignoreCase: true);
    }

    public IReadOnlyList<IDetector> Detectors => _detectors;

    /// <summary>The detectors whose findings a reading that joins characters may report (<see cref="Disguises.Joinable"/>), as bits.</summary>
    public ulong Joinable { get; }

    /// <summary>Whether any joinable detector's gate admits a text with these counts (outside ASCII, always).</summary>
    public bool AdmitsJoinable(in TextTraits traits)
    {
        if (traits.Unusual > 0) return Joinable != 0;
        for (var bits = Joinable; bits != 0; bits &= bits - 1)
            if (_gates[BitOperations.TrailingZeroCount(bits)].Admits(traits)) return true;
        return false;
    }

    /// <summary>The email and card detectors, as bits: what a text read backwards is searched for.</summary>
    public ulong Reversible { get; }

    /// <summary>Whether a detector of this entity is enabled (key-name rules mask only entities whose detector is on).</summary>
    public bool Detects(string entity) => _entities.Contains(entity);

    /// <summary>Whether any detector could find anything in a text with these counts.</summary>
    public bool MayFind(in TextTraits traits) => Admitted(traits) != 0;

    /// <summary>
    /// The detectors whose gates admit a text with these counts, as bits (detector i is bit i), with
    /// <see cref="NormaliseBit"/> and <see cref="BlobBit"/>; 0: nothing can be found.
    /// </summary>
    public ulong Admitted(in TextTraits traits)
    {
        if (!_normalise) return Gates(traits);
        // Outside ASCII the counts of the original say nothing of the normalised text: everything is possible.
        if (traits.Unusual > 0) return _all | NormaliseBit | BlobBit;
        var admitted = Gates(traits);
        if (traits.Spelled > 0 || traits.Spaces >= 2) admitted |= NormaliseBit;
        // Lower-case base32 has neither capitals nor digits: any text long enough may hold a run.
        if (traits.Length >= EncodedBlobs.MinLength) admitted |= BlobBit;
        // A short base64 value is one run of its alphabet: no blank, '@', '.' or ':' in it.
        else if (traits.Length >= EncodedBlobs.ShortMinLength && traits.UppersOrDigits > 0 && traits.Spaces == 0
                 && traits.Counts[TextTraits.AtLane] == 0 && traits.Counts[TextTraits.DotLane] == 0 && traits.Counts[TextTraits.ColonLane] == 0)
            admitted |= BlobBit;
        return admitted;
    }

    private ulong Gates(in TextTraits traits)
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
    public void Find(ReadOnlySpan<char> text, ulong admitted, List<Finding> findings) => Find(text, admitted, findings, depth: 0);

    internal void Find(ReadOnlySpan<char> text, ulong admitted, List<Finding> findings, int depth)
    {
        findings.Clear();
        if ((admitted & NormaliseBit) != 0 && TextNormaliser.Needs(text))
        {
            if (TextNormaliser.Normalise(text) is { } normalised)
            {
                var inner = new List<Finding>();
                var folded = normalised.Text;
                FindIn(folded, Admitted(TextTraits.Of(folded)) & ~NormaliseBit, inner, depth);
                foreach (var finding in inner)
                {
                    var (start, length) = normalised.Original(finding.Start, finding.Length);
                    findings.Add(finding with { Start = start, Length = length });
                }
                return;
            }
            // Nothing changed (a '%' that escapes nothing): the counts of the text itself hold.
            admitted = Admitted(TextTraits.Of(text)) & ~NormaliseBit;
        }
        FindIn(text, admitted, findings, depth);
    }

    private void FindIn(ReadOnlySpan<char> text, ulong admitted, List<Finding> findings, int depth)
    {
        var blobs = (admitted & BlobBit) != 0 && depth < MaxDepth;
        admitted &= _all;
        admitted = _exact.Admitted(text, admitted);
        // Case-insensitive patterns may match letters outside ASCII: only an all-ASCII text is ruled out by the words.
        if ((admitted & _anyCase.Detectors) != 0 && Ascii.IsValid(text)) admitted = _anyCase.Admitted(text, admitted);
        DigitShape? shape = null; // scanned once, when a detector of digit values first asks
        for (; admitted != 0; admitted &= admitted - 1)
        {
            var detector = _detectors[BitOperations.TrailingZeroCount(admitted)];
            if (detector.Shape is { } admits && !admits(shape ??= DigitShape.Of(text))) continue;
            detector.Find(text, findings);
        }
        if (blobs) EncodedBlobs.Find(text, this, findings, depth);
        if (_normalise && depth < MaxDepth) Disguises.Find(text, this, findings, depth);
        if (findings.Count > 1) Resolve(findings);

    }

    /// <summary>
    /// The findings in a text body (command output, CSV, HTML, logs), values split across its cells and elements
    /// included (<see cref="Disguises.FindAcrossCells"/>); single values (a JSON string) are read alone, their
    /// neighbours being another masker's business (<c>SplitValues</c>).
    /// </summary>
    public List<Finding> Find(string text)
    {
        var findings = new List<Finding>();
        var admitted = Admitted(TextTraits.Of(text));
        Find(text, admitted, findings);
        // A whole body's cells are read across for an encoded run too ("YWxpY2VA","ZXhhbXBsZS5jb20=").
        if (_normalise && (admitted & (Joinable | BlobBit)) != 0)
        {
            var plain = findings.Count;
            Disguises.FindAcrossCells(text, this, findings);
            if (findings.Count > plain) Resolve(findings);
        }
        return findings;
    }

    /// <summary>
    /// As <see cref="Find(ReadOnlySpan{char}, ulong, List{Finding})"/>, and when the text is a document of its own (a CSV, HTML or
    /// XML snippet in one JSON string), values split across its cells and elements too.
    /// </summary>
    public void FindWithCells(ReadOnlySpan<char> text, ulong admitted, List<Finding> findings)
    {
        Find(text, admitted, findings);
        if (!_normalise || (admitted & Joinable) == 0) return;
        var plain = findings.Count;
        Disguises.FindAcrossCells(text, this, findings);
        if (findings.Count > plain) Resolve(findings);
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

/// <summary>The detectors with literals of one kind (exact or any case): their words in one search, and each one's own.</summary>
internal sealed class LiteralCheck
{
    private readonly SearchValues<string>? _all;
    private readonly SearchValues<string>?[] _own;

    /// <summary>The detectors this check covers, as bits.</summary>
    public ulong Detectors { get; }

    public LiteralCheck(IReadOnlyList<IDetector> detectors, bool ignoreCase)
    {
        var comparison = ignoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        _own = new SearchValues<string>?[detectors.Count];
        for (var i = 0; i < detectors.Count; i++)
            if (detectors[i].Literals is { } literals && literals.IgnoreCase == ignoreCase)
            {
                _own[i] = SearchValues.Create(literals.Words, comparison);
                Detectors |= 1UL << i;
            }
        if (Detectors != 0)
            _all = SearchValues.Create([.. detectors.Where(d => d.Literals?.IgnoreCase == ignoreCase).SelectMany(d => d.Literals!.Words).Distinct()], comparison);
    }

    /// <summary>The admitted set without the covered detectors whose words <paramref name="text"/> lacks.</summary>
    public ulong Admitted(ReadOnlySpan<char> text, ulong admitted)
    {
        var asked = admitted & Detectors;
        if (asked == 0) return admitted;
        if (text.IndexOfAny(_all!) < 0) return admitted & ~Detectors;
        for (; asked != 0; asked &= asked - 1)
        {
            var i = BitOperations.TrailingZeroCount(asked);
            if (text.IndexOfAny(_own[i]!) < 0) admitted &= ~(1UL << i);
        }
        return admitted;
    }
}
