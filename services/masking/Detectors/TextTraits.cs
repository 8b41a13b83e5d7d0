using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Portcullis.Masking.Detectors;

/// <summary>
/// The character counts every detector's pre-check asks of a text, taken in one pass: one vector addition per
/// character, each count in a lane. ASCII characters count the same in UTF-16 and in UTF-8, so a JSON value
/// is checked in its raw bytes before anything is decoded. Counts stop growing at 16,384, far above any
/// pre-check's minimum.
/// </summary>
public readonly struct TextTraits(Vector256<short> counts)
{
    internal const int LengthLane = 0, DigitLane = 1, UpperLane = 2, AtLane = 3, DotLane = 4, ColonLane = 5, DashLane = 6,
        UnderscoreLane = 7, SpaceLane = 8, EqualsLane = 9, UpperOrDigitLane = 10, DashOrSpaceLane = 11, EqualsOrColonLane = 12,
        SignalLane = 13, UnusualLane = 14, SpelledLane = 15;

    private const int Block = 16_384;

    // What one character adds to the counts: 1 to the length and to each class it belongs to. Entry 128
    // stands for every character outside ASCII (length and unusual).
    private static readonly Vector256<short>[] Increments = MakeIncrements();

    internal Vector256<short> Counts => counts;

    public int Length => counts[LengthLane];
    public int Digits => counts[DigitLane];
    public int Uppers => counts[UpperLane];

    /// <summary>
    /// How many characters of the kinds most gates need: digits, upper case, '@', '.', ':', '-', '_', '='.
    /// A text with none of them passes only the gates that need none (<see cref="Gate.NeedsSignal"/>).
    /// </summary>
    public int Signal => counts[SignalLane];

    /// <summary>Characters outside ASCII, '%' and a backslash (escapes): the text reads differently once normalised, so counts say nothing of it.</summary>
    public int Unusual => counts[UnusualLane];

    /// <summary>Brackets, '&amp;' and '\', which a spelled-out or escaped '@' or '.' ("[at]", "&amp;#64;", "\u0040") needs.</summary>
    public int Spelled => counts[SpelledLane];

    public int Spaces => counts[SpaceLane];

    public int UppersOrDigits => counts[UpperOrDigitLane];

    private static Vector256<short>[] MakeIncrements()
    {
        var increments = new Vector256<short>[129];
        Span<short> lanes = stackalloc short[Vector256<short>.Count];
        for (var c = 0; c < increments.Length; c++)
        {
            lanes.Clear();
            lanes[LengthLane] = 1;
            if (c is >= '0' and <= '9') lanes[DigitLane] = lanes[UpperOrDigitLane] = 1;
            if (c is >= 'A' and <= 'Z') lanes[UpperLane] = lanes[UpperOrDigitLane] = 1;
            if (c == '@') lanes[AtLane] = 1;
            if (c == '.') lanes[DotLane] = 1;
            if (c == ':') lanes[ColonLane] = lanes[EqualsOrColonLane] = 1;
            if (c == '-') lanes[DashLane] = lanes[DashOrSpaceLane] = 1;
            if (c == '_') lanes[UnderscoreLane] = 1;
            if (c == ' ') lanes[SpaceLane] = lanes[DashOrSpaceLane] = 1;
            if (c == '=') lanes[EqualsLane] = lanes[EqualsOrColonLane] = 1;
            if (c is (>= '0' and <= '9') or (>= 'A' and <= 'Z') or '@' or '.' or ':' or '-' or '_' or '=') lanes[SignalLane] = 1;
            if (c is '%' or '\\' or 128) lanes[UnusualLane] = 1;
            if (c is '[' or '(' or '{' or '<' or '&' or '\\' or '"' or '*') lanes[SpelledLane] = 1;
            increments[c] = Vector256.Create<short>(lanes);
        }
        return increments;
    }

    public static TextTraits Of(ReadOnlySpan<char> text) => Count(MemoryMarshal.Cast<char, ushort>(text));

    public static TextTraits Of(ReadOnlySpan<byte> utf8) => Count(utf8);

    // One loop for UTF-16 and UTF-8 code units (the JIT makes one copy for each); every unit from 128 up adds to the length only.
    private static TextTraits Count<T>(ReadOnlySpan<T> units) where T : unmanaged, IBinaryInteger<T>
    {
        ref var increments = ref MemoryMarshal.GetArrayDataReference(Increments);
        var counts = Vector256<short>.Zero;
        for (var at = 0; at < units.Length; at += Block)
        {
            foreach (var unit in units.Slice(at, Math.Min(Block, units.Length - at)))
                counts += Unsafe.Add(ref increments, (int)Math.Min(uint.CreateTruncating(unit), 128u));
            counts = Vector256.Min(counts, Vector256.Create((short)Block));
        }
        return new TextTraits(counts);
    }
}

/// <summary>
/// A detector's pre-check: the least of each count a text must have for its pattern (and validation) to
/// accept anything. A necessary condition only: passing it means "run the pattern", not "found".
/// </summary>
public readonly record struct Gate(
    int Length = 0, int Digits = 0, int Uppers = 0, int At = 0, int Dots = 0, int Colons = 0, int Dashes = 0, int Underscores = 0,
    int EqualSigns = 0, int UppersOrDigits = 0, int DashesOrSpaces = 0, int EqualSignsOrColons = 0)
{
    private Vector256<short> Minimums { get; } = Make(Length, Digits, Uppers, At, Dots, Colons, Dashes, Underscores, EqualSigns,
        UppersOrDigits, DashesOrSpaces, EqualSignsOrColons);

    /// <summary>Whether the gate admits only texts with at least one signal character (<see cref="TextTraits.Signal"/>).</summary>
    public bool NeedsSignal => Digits + Uppers + At + Dots + Colons + Dashes + Underscores + EqualSigns + UppersOrDigits + EqualSignsOrColons > 0;

    public bool Admits(in TextTraits traits) => Vector256.GreaterThanOrEqualAll(traits.Counts, Minimums);

    private static Vector256<short> Make(int length, int digits, int uppers, int at, int dots, int colons, int dashes, int underscores,
        int equalSigns, int uppersOrDigits, int dashesOrSpaces, int equalSignsOrColons)
    {
        Span<short> lanes = stackalloc short[Vector256<short>.Count];
        lanes[TextTraits.LengthLane] = (short)length;
        lanes[TextTraits.DigitLane] = (short)digits;
        lanes[TextTraits.UpperLane] = (short)uppers;
        lanes[TextTraits.AtLane] = (short)at;
        lanes[TextTraits.DotLane] = (short)dots;
        lanes[TextTraits.ColonLane] = (short)colons;
        lanes[TextTraits.DashLane] = (short)dashes;
        lanes[TextTraits.UnderscoreLane] = (short)underscores;
        lanes[TextTraits.EqualsLane] = (short)equalSigns;
        lanes[TextTraits.UpperOrDigitLane] = (short)uppersOrDigits;
        lanes[TextTraits.DashOrSpaceLane] = (short)dashesOrSpaces;
        lanes[TextTraits.EqualsOrColonLane] = (short)equalSignsOrColons;
        return Vector256.Create<short>(lanes);
    }
}
