using System.Text;
using System.Text.Json;
using Portcullis.Masking.Detectors;
using Portcullis.Masking.Values;

namespace Portcullis.Masking.Streaming;

/// <summary>
/// Values split across the scalars of a JSON document ({"a":"alice@exam","b":"ple.com"}, ["4111 1111","1111 1111"],
/// [4111,1111,1111,1111]): each string or number, as it will be written (masked already where a detector found
/// something in it), is read against the end of those before it in document order, property names aside: run
/// together, and with one blank between (digit groups). A validated value or a secret that crosses the seam
/// (<see cref="Disguises.Joinable"/>) masks every part of it, in each scalar it touches; a number so masked becomes a
/// string. The scalars that may still take part are held back from the output until they can no longer
/// (<see cref="Reach"/> characters later), so a part is never written before the rest of its value is seen.
/// A masked whole (by a rule), a null, true or false ends the run.
/// </summary>
internal sealed class SplitValues(ValueMasker values, IHeldOutput output)
{
    /// <summary>How far before and after a seam a split value is looked for: an address is at most 254 characters.</summary>
    public const int Reach = 160;

    private readonly TextMasker _detectors = values.Detectors;
    // The scalars that the tail still reaches, by id (the first is _firstId): where each stands in the output.
    private readonly List<(long Start, long End, int Length, System.Runtime.Intrinsics.Vector256<short> Counts)> _pieces = [];
    private int _firstId;
    // The end of the text so far: characters, and for each the scalar and offset it came from.
    private readonly char[] _tail = new char[Reach];
    private readonly int[] _tailPiece = new int[Reach];
    private readonly int[] _tailOffset = new int[Reach];
    private int _tailLength;
    private readonly char[] _seam = new char[2 * Reach + 1];
    private readonly List<Finding> _found = [];
    private char[] _text = new char[256];

    /// <summary>A value that cannot be part of a split one: what came before no longer joins what comes after.</summary>
    public void Barrier()
    {
        _tailLength = 0;
        _tailValid = true;
        _firstId += _pieces.Count;
        _pieces.Clear();
        _windowLength = 0;
        _sum = default;
        output.HoldFrom = long.MaxValue;
    }

    // The scalars' lengths and character counts summed: a value across a seam has no more of any character than
    // the window and the new scalar together, so when those counts admit no joinable detector nothing is searched,
    // and the tail is not even read (it is read again from the held output when a search needs it).
    private int _windowLength;
    private System.Runtime.Intrinsics.Vector256<short> _sum;
    private bool _tailValid = true;

    /// <summary>A scalar written to the output at [start, end), as raw UTF-8 (a string's content or a number).</summary>
    public void Raw(long start, long end, ReadOnlySpan<byte> utf8, bool escaped, in TextTraits traits)
    {
        var length = traits.Unusual == 0 && !escaped ? utf8.Length : -1;
        var last = utf8.Length == 0 ? 'a' : utf8[^1] < 0x80 ? (char)utf8[^1] : 'a';
        if (length >= 0 && Quick(start, end, length, traits, last)) return;
        if (escaped)
        {
            var reader = new Utf8JsonReader(output.Held(start, end));
            reader.Read();
            Text(start, end, reader.TokenType == JsonTokenType.String ? reader.GetString() : Encoding.UTF8.GetString(reader.ValueSpan), traits);
            return;
        }
        var count = Encoding.UTF8.GetMaxCharCount(utf8.Length);
        if (_text.Length < count) _text = new char[Math.Max(count, _text.Length * 2)];
        var chars = Encoding.UTF8.GetChars(utf8, _text);
        Text(start, end, _text.AsSpan(0, chars), traits);
    }

    /// <summary>A scalar written to the output at [start, end) whose text (as written) is <paramref name="text"/>.</summary>
    public void Text(long start, long end, ReadOnlySpan<char> text) => Text(start, end, text, TextTraits.Of(text));

    private void Text(long start, long end, ReadOnlySpan<char> text, in TextTraits traits)
    {
        if (Quick(start, end, text.Length, traits, text.Length == 0 ? 'a' : text[^1])) return;
        var id = _firstId + _pieces.Count;
        if (!_tailValid) ReadTail();
        _pieces.Add((start, end, text.Length, traits.Counts));
        _windowLength += text.Length;
        _sum = Vector256Min(_sum + traits.Counts);
        if (_tailLength > 0 && text.Length > 0 && Seam(text, id)) return;
        Append(text, id);
    }

    private static System.Runtime.Intrinsics.Vector256<short> Vector256Min(System.Runtime.Intrinsics.Vector256<short> v) =>
        System.Runtime.Intrinsics.Vector256.Min(System.Runtime.Intrinsics.Vector256.Max(v, default), System.Runtime.Intrinsics.Vector256.Create((short)16_384));

    /// <summary>
    /// The scalar taken without a search when nothing joinable can cross its seam (or there is no window): true when
    /// done. Its text is not read; the tail is marked for reading again.
    /// </summary>
    private bool Quick(long start, long end, int length, in TextTraits traits, char last)
    {
        if (length < 0) return false;
        if (_pieces.Count > 0 && _detectors.AdmitsJoinable(new TextTraits(Vector256Min(_sum + traits.Counts)))) return false;
        if (_pieces.Count == 0) _tailLength = 0;
        _tailValid = _pieces.Count == 0 && length == 0;
        _pieces.Add((start, end, length, traits.Counts));
        _windowLength += length;
        _sum = Vector256Min(_sum + traits.Counts);
        if (Delimiter(last) && !Chain(last)) Barrier();
        else Release();
        return true;
    }

    // The tail read again from the held output, as the window's scalars stand.
    private void ReadTail()
    {
        var texts = _pieces.Select(p => Decode(p.Start, p.End)).ToList();
        _tailLength = 0;
        for (var k = 0; k < texts.Count; k++) Extend(texts[k], _firstId + k);
        _tailValid = true;
    }

    // Whether a value crosses the seam before the scalar `id`; when one does, the scalars are rewritten and the tail rebuilt.
    private bool Seam(ReadOnlySpan<char> text, int id)
    {
        var head = text[..Math.Min(Reach, text.Length)];
        _found.Clear();
        // Run together: the word that crosses the seam.
        var left = 0;
        while (left < _tailLength && !Delimiter(_tail[_tailLength - 1 - left])) left++;
        var right = 0;
        while (right < head.Length && !Delimiter(head[right])) right++;
        if (left > 0 && right > 0) Search(left, head[..right], blank: false);
        // One blank apart: digit groups (and an IBAN's) across the seam.
        left = 0;
        while (left < _tailLength && Chain(_tail[_tailLength - 1 - left])) left++;
        right = 0;
        while (right < head.Length && Chain(head[right])) right++;
        if (left > 0 && right > 0) Search(left, head[..right], blank: true);
        if (_found.Count == 0) return false;
        Rewrite(text, id);
        return true;
    }

    private static bool Delimiter(char c) => char.IsWhiteSpace(c) || c is '"' or '<' or '>' or '(' or ')' or '{' or '}' or '[' or ']' or ',' or ';';

    private static bool Chain(char c) => char.IsAsciiLetterOrDigit(c) || DigitChains.IsSeparator(c);

    // Searches the last `left` characters of the tail joined to `right`; keeps the joinable findings that cross the seam.
    private void Search(int left, ReadOnlySpan<char> right, bool blank)
    {
        _tail.AsSpan(_tailLength - left, left).CopyTo(_seam);
        var seam = left;
        if (blank) _seam[seam++] = ' ';
        right.CopyTo(_seam.AsSpan(seam));
        var joined = _seam.AsSpan(0, seam + right.Length);
        // Outside ASCII every detector is admitted, so the joinable ones stand for the normalised text too.
        var admitted = _detectors.Admitted(TextTraits.Of(joined)) & (_detectors.Joinable | TextMasker.NormaliseBit);
        if ((admitted & _detectors.Joinable) == 0) return;
        var found = new List<Finding>();
        _detectors.Find(joined, admitted, found);
        foreach (var finding in found)
        {
            if (!Disguises.Joinable(finding) || finding.Start >= left || finding.End <= seam) continue;
            var overlaps = false;
            foreach (var other in _found) overlaps |= finding.Start - left < other.End && other.Start < finding.End - left;
            if (overlaps) continue;
            // Positions: below `left` in the tail, from `seam` on in the new scalar (offset from its start).
            _found.Add(finding with { Start = finding.Start - left, Length = finding.Length });
            _foundSeams.Add((blank, joined.Slice(finding.Start, finding.Length).ToString(), seam - left));
        }
    }

    private readonly List<(bool Blank, string Value, int Gap)> _foundSeams = [];

    /// <summary>Masks each part of each value found in the scalars it touches, then reads the tail anew.</summary>
    private void Rewrite(ReadOnlySpan<char> text, int id)
    {
        // The part of each scalar a finding covers: (piece id) -> (from, to) in that scalar's text.
        var parts = new Dictionary<int, List<(int From, int To, string Replacement)>>();
        for (var f = 0; f < _found.Count; f++)
        {
            var finding = _found[f];
            var (_, value, gap) = _foundSeams[f];
            var replacement = values.Replace(new Finding(0, value.Length, finding.Entity, finding.Priority), value) ?? "";
            // Tail positions are negative (from -left), the new scalar's from 0 after the gap.
            for (var at = finding.Start; at < finding.Start + finding.Length; at++)
            {
                int piece, offset;
                if (at < 0)
                {
                    var t = _tailLength + at;
                    (piece, offset) = (_tailPiece[t], _tailOffset[t]);
                }
                else if (at < gap) continue; // the blank between
                else (piece, offset) = (id, at - gap);
                if (!parts.TryGetValue(piece, out var list)) parts[piece] = list = [];
                if (list.Count > 0 && list[^1].Replacement == replacement && list[^1].To == offset) list[^1] = (list[^1].From, offset + 1, replacement);
                else list.Add((offset, offset + 1, replacement));
            }
        }
        _foundSeams.Clear();
        var newText = text.ToString();
        // From the last scalar back, so that earlier positions in the output stay where they are.
        foreach (var piece in parts.Keys.OrderByDescending(p => p))
        {
            var (start, end, _, counts) = _pieces[piece - _firstId];
            var current = piece == id ? newText : Decode(start, end);
            var masked = new StringBuilder();
            var at = 0;
            foreach (var (from, to, replacement) in parts[piece].OrderBy(p => p.From))
            {
                if (from < at) continue;
                masked.Append(current, at, from - at).Append(replacement);
                at = to;
            }
            masked.Append(current, at, current.Length - at);
            var delta = output.Rewrite(start, end, masked.ToString());
            var length = masked.Length;
            _windowLength += length - _pieces[piece - _firstId].Length;
            _pieces[piece - _firstId] = (start, end + delta, length, counts);
            for (var later = piece - _firstId + 1; later < _pieces.Count; later++)
                _pieces[later] = (_pieces[later].Start + delta, _pieces[later].End + delta, _pieces[later].Length, _pieces[later].Counts);
        }
        // The tail read again from the scalars as they now stand.
        ReadTail();
        if (_tailLength > 0 && Delimiter(_tail[_tailLength - 1]) && !Chain(_tail[_tailLength - 1])) Barrier();
        else Release();
    }

    private string Decode(long start, long end)
    {
        var reader = new Utf8JsonReader(output.Held(start, end));
        reader.Read();
        return reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(reader.ValueSpan);
    }

    // The scalar's text onto the tail (its last Reach characters), and the scalars the tail no longer reaches let go.
    private void Append(ReadOnlySpan<char> text, int id)
    {
        Extend(text, id);
        if (_tailLength > 0 && Delimiter(_tail[_tailLength - 1]) && !Chain(_tail[_tailLength - 1])) Barrier();
        else Release();
    }

    private void Extend(ReadOnlySpan<char> text, int id)
    {
        if (text.Length >= Reach)
        {
            text[^Reach..].CopyTo(_tail);
            for (var i = 0; i < Reach; i++) (_tailPiece[i], _tailOffset[i]) = (id, text.Length - Reach + i);
            _tailLength = Reach;
        }
        else
        {
            var keep = Math.Min(_tailLength, Reach - text.Length);
            if (keep < _tailLength)
            {
                var drop = _tailLength - keep;
                Array.Copy(_tail, drop, _tail, 0, keep);
                Array.Copy(_tailPiece, drop, _tailPiece, 0, keep);
                Array.Copy(_tailOffset, drop, _tailOffset, 0, keep);
            }
            text.CopyTo(_tail.AsSpan(keep));
            for (var i = 0; i < text.Length; i++) (_tailPiece[keep + i], _tailOffset[keep + i]) = (id, i);
            _tailLength = keep + text.Length;
        }
    }

    // Scalars the last Reach characters no longer reach are let go: written out with the next flush.
    private void Release()
    {
        while (_pieces.Count > 1 && _windowLength - _pieces[0].Length >= Reach)
        {
            _windowLength -= _pieces[0].Length;
            _pieces.RemoveAt(0);
            _firstId++;
            // Summed again rather than subtracted: a sum at its cap would otherwise fall below the truth.
            _sum = default;
            foreach (var piece in _pieces) _sum = Vector256Min(_sum + piece.Counts);
        }
        output.HoldFrom = _pieces.Count > 0 ? _pieces[0].Start : long.MaxValue;
    }
}

/// <summary>An output whose end can be held back and rewritten before it is written out.</summary>
internal interface IHeldOutput
{
    /// <summary>Nothing from this position on is written out yet (<see cref="long.MaxValue"/>: nothing is held).</summary>
    long HoldFrom { get; set; }

    /// <summary>The bytes at [start, end), held.</summary>
    ReadOnlySpan<byte> Held(long start, long end);

    /// <summary>Replaces the held bytes at [start, end) with <paramref name="text"/> as a JSON string; how much longer the output became.</summary>
    long Rewrite(long start, long end, string text);
}
