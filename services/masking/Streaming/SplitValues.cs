using System.Buffers;
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
    // The tail without the property names in it (the values-only reading), built when a seam search needs it.
    private readonly char[] _bare = new char[Reach];
    private readonly int[] _barePiece = new int[Reach];
    private readonly int[] _bareOffset = new int[Reach];
    // The property names among the window's scalars, by id.
    private readonly HashSet<int> _names = [];
    // The base64/base32/hex run that ends the text so far: its length, and whether it has an upper-case letter or a digit.
    private int _run;
    private bool _runSignal;
    // The same over the values alone, property names aside ({"a":"YWxpY2VA","b":"ZXhhbXBsZS5jb20="}).
    private int _valueRun;
    private bool _valueRunSignal;
    // What a seam search found: the part of each scalar a value covers, and what that part becomes.
    private readonly List<(int Piece, int Offset, string Replacement)> _parts = [];
    private char[] _text = new char[256];

    /// <summary>A value that cannot be part of a split one: what came before no longer joins what comes after.</summary>
    public void Barrier()
    {
        _tailLength = 0;
        _tailValid = true;
        _firstId += _pieces.Count;
        _pieces.Clear();
        _names.Clear();
        _run = _valueRun = 0;
        _runSignal = _valueRunSignal = false;
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
    public void Raw(long start, long end, ReadOnlySpan<byte> utf8, bool escaped, in TextTraits traits, bool name = false)
    {
        var length = traits.Unusual == 0 && !escaped ? utf8.Length : -1;
        var last = utf8.Length == 0 ? 'a' : utf8[^1] < 0x80 ? (char)utf8[^1] : 'a';
        if (length >= 0 && Quick(start, end, length, traits, last, Edges(utf8, RunBytes, SignalBytes), name)) return;
        if (escaped)
        {
            var reader = new Utf8JsonReader(output.Held(start, end));
            reader.Read();
            Text(start, end, reader.TokenType == JsonTokenType.String ? reader.GetString() : Encoding.UTF8.GetString(reader.ValueSpan), traits, name);
            return;
        }
        var count = Encoding.UTF8.GetMaxCharCount(utf8.Length);
        if (_text.Length < count) _text = new char[Math.Max(count, _text.Length * 2)];
        var chars = Encoding.UTF8.GetChars(utf8, _text);
        Text(start, end, _text.AsSpan(0, chars), traits, name);
    }

    /// <summary>A scalar written to the output at [start, end) whose text (as written) is <paramref name="text"/>.</summary>
    public void Text(long start, long end, ReadOnlySpan<char> text, bool name = false) => Text(start, end, text, TextTraits.Of(text), name);

    private void Text(long start, long end, ReadOnlySpan<char> text, in TextTraits traits, bool name)
    {
        var edges = Edges(text, RunChars, SignalChars);
        if (Quick(start, end, text.Length, traits, text.Length == 0 ? 'a' : text[^1], edges, name)) return;
        var id = _firstId + _pieces.Count;
        if (!_tailValid) ReadTail();
        var runs = (_run, _runSignal, _valueRun, _valueRunSignal);
        Add(start, end, text.Length, traits, edges, name);
        if (_tailLength > 0 && text.Length > 0 && Seam(text, id, name, runs, edges)) return;
        Append(text, id);
    }

    // The characters of base64 (either alphabet), base32 and hex, padding included; those of them that base64 of text nearly always has.
    private static readonly SearchValues<byte> RunBytes = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_="u8);
    private static readonly SearchValues<char> RunChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=");
    private static readonly SearchValues<byte> SignalBytes = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"u8);
    private static readonly SearchValues<char> SignalChars = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");

    /// <summary>Where a scalar's text stands against an encoded run: how long the run it begins and ends with is, and whether each has a signal character.</summary>
    private readonly record struct RunEdges(int Head, bool HeadSignal, int Tail, bool TailSignal, bool Whole);

    private static RunEdges Edges<T>(ReadOnlySpan<T> text, SearchValues<T> run, SearchValues<T> signal) where T : IEquatable<T>
    {
        var head = text.IndexOfAnyExcept(run);
        if (head < 0) { var all = text.IndexOfAny(signal) >= 0; return new(text.Length, all, text.Length, all, true); }
        var tail = text.Length - 1 - text.LastIndexOfAnyExcept(run);
        return new(head, text[..head].IndexOfAny(signal) >= 0, tail, text[^tail..].IndexOfAny(signal) >= 0, false);
    }

    // Whether an encoded run could cross this seam: the text so far ends in one and the scalar begins with one, long enough
    // together for a value (a short base64 run is 8 characters), with a capital or a digit somewhere.
    private bool RunCrosses(in RunEdges edges, bool name) =>
        Crosses(_run, _runSignal, edges) || (!name && _names.Count > 0 && Crosses(_valueRun, _valueRunSignal, edges));

    private static bool Crosses(int run, bool signal, in RunEdges edges) =>
        run > 0 && edges.Head > 0 && run + edges.Head >= EncodedBlobs.ShortMinLength && (signal || edges.HeadSignal);

    private void Add(long start, long end, int length, in TextTraits traits, in RunEdges edges, bool name)
    {
        if (name) _names.Add(_firstId + _pieces.Count);
        _pieces.Add((start, end, length, traits.Counts));
        _windowLength += length;
        _sum = Vector256Min(_sum + traits.Counts);
        if (edges.Whole) { _run += length; _runSignal |= edges.HeadSignal; }
        else { _run = edges.Tail; _runSignal = edges.TailSignal; }
        if (name) return;
        if (edges.Whole) { _valueRun += length; _valueRunSignal |= edges.HeadSignal; }
        else { _valueRun = edges.Tail; _valueRunSignal = edges.TailSignal; }
    }

    private static System.Runtime.Intrinsics.Vector256<short> Vector256Min(System.Runtime.Intrinsics.Vector256<short> v) =>
        System.Runtime.Intrinsics.Vector256.Min(System.Runtime.Intrinsics.Vector256.Max(v, default), System.Runtime.Intrinsics.Vector256.Create((short)16_384));

    /// <summary>
    /// The scalar taken without a search when nothing joinable can cross its seam (or there is no window): true when
    /// done. Its text is not read; the tail is marked for reading again.
    /// </summary>
    private bool Quick(long start, long end, int length, in TextTraits traits, char last, in RunEdges edges, bool name)
    {
        if (length < 0) return false;
        if (_pieces.Count > 0 && (_detectors.AdmitsJoinable(new TextTraits(Vector256Min(_sum + traits.Counts))) || RunCrosses(edges, name))) return false;
        if (_pieces.Count == 0) _tailLength = 0;
        _tailValid = _pieces.Count == 0 && length == 0;
        Add(start, end, length, traits, edges, name);
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
    private bool Seam(ReadOnlySpan<char> text, int id, bool name, (int Run, bool Signal, int ValueRun, bool ValueSignal) runs, in RunEdges edges)
    {
        var head = text[..Math.Min(Reach, text.Length)];
        _parts.Clear();
        var tail = new Tail(_tail, _tailPiece, _tailOffset, _tailLength);
        Readings(tail, head, id);
        Runs(tail, text, head, id, runs.Run, runs.Signal, edges);
        if (_names.Count > 0)
        {
            // From the last name on (a name and its value: {"id":1,"alice":"@example.com"}), or after it when a name comes.
            var last = tail.Length - 1;
            while (last >= 0 && !_names.Contains(tail.Piece[last])) last--;
            if (last >= 0)
            {
                var from = last + 1;
                if (!name) while (from > 0 && tail.Piece[from - 1] == tail.Piece[last]) from--;
                if (from > 0 && from < tail.Length) Readings(tail.From(from), head, id);
            }
            // A value's parts may stand in values alone, the names between them aside ({"k":"AKIAIOSFOD","v":"NN7EXAMPLE"}).
            if (!name && Bare(names: false) is { Length: > 0 } bare)
            {
                Readings(bare, head, id);
                Runs(bare, text, head, id, runs.ValueRun, runs.ValueSignal, edges);
            }
            // Or in names alone, the values between them aside ({"alice@exa":1,"mple.com":2}, [{"alice@exa":1},{"mple.com":2}]).
            if (name && Bare(names: true) is { Length: > 0 } names)
            {
                _namesOnly = true;
                Readings(names, head, id);
                _namesOnly = false;
            }
        }
        if (_parts.Count == 0) return false;
        Rewrite(text, id);
        return true;
    }

    // An encoded run across the seam, from where its quads (and base32's octets) begin, decoded as one; and the scalar's own
    // run from where the run's quads begin, when the run began before it.
    private void Runs(in Tail tail, ReadOnlySpan<char> text, ReadOnlySpan<char> head, int id, int runBefore, bool signal, in RunEdges edges)
    {
        if (!Crosses(runBefore, signal, edges)) return;
        var left = Math.Min(runBefore, tail.Length);
        left -= (8 - (runBefore - left) % 8) % 8;
        if (left > 0) Search(tail, left, head[..Math.Min(edges.Head, head.Length)], blank: false, id, blobs: true);
        if (runBefore % 8 != 0 && edges.Head >= EncodedBlobs.MinLength)
        {
            var from = (8 - runBefore % 8) % 8;
            Search(tail, 0, text[from..edges.Head], blank: false, id, blobs: true, offset: from);
        }
    }

    /// <summary>The end of the text so far as one reading has it: characters, and for each the scalar and offset it came from.</summary>
    private readonly ref struct Tail
    {
        public readonly ReadOnlySpan<char> Chars;
        public readonly ReadOnlySpan<int> Piece;
        public readonly ReadOnlySpan<int> Offset;

        public Tail(Span<char> chars, Span<int> piece, Span<int> offset, int length) : this(chars[..length], piece[..length], offset[..length]) { }

        public int Length => Chars.Length;

        private Tail(ReadOnlySpan<char> chars, ReadOnlySpan<int> piece, ReadOnlySpan<int> offset)
        {
            Chars = chars;
            Piece = piece;
            Offset = offset;
        }

        public Tail From(int start) => new(Chars[start..], Piece[start..], Offset[start..]);
    }

    // Set while the names alone are read: the values between them are not part of that reading.
    private bool _namesOnly;

    // The tail without the characters of property names (or, names: true, with only those).
    private Tail Bare(bool names)
    {
        var length = 0;
        for (var i = 0; i < _tailLength; i++)
        {
            if (_names.Contains(_tailPiece[i]) != names) continue;
            (_bare[length], _barePiece[length], _bareOffset[length]) = (_tail[i], _tailPiece[i], _tailOffset[i]);
            length++;
        }
        return new Tail(_bare, _barePiece, _bareOffset, length);
    }

    // Run together (the word that crosses the seam), and one blank apart (digit groups, an IBAN's).
    private void Readings(in Tail tail, ReadOnlySpan<char> head, int id)
    {
        var left = 0;
        while (left < tail.Length && !Delimiter(tail.Chars[tail.Length - 1 - left])) left++;
        var right = 0;
        while (right < head.Length && !Delimiter(head[right])) right++;
        if (left > 0 && right > 0) Search(tail, left, head[..right], blank: false, id);
        left = 0;
        while (left < tail.Length && Chain(tail.Chars[tail.Length - 1 - left])) left++;
        right = 0;
        while (right < head.Length && Chain(head[right])) right++;
        if (left > 0 && right > 0) Search(tail, left, head[..right], blank: true, id);
    }

    private static bool Delimiter(char c) => char.IsWhiteSpace(c) || c is '"' or '<' or '>' or '(' or ')' or '{' or '}' or '[' or ']' or ',' or ';';

    private static bool Chain(char c) => char.IsAsciiLetterOrDigit(c) || DigitChains.IsSeparator(c);

    // Searches the last `left` characters of the tail joined to `right` (which stands at `offset` in the new scalar); keeps the
    // joinable findings that cross the seam (all of them when `left` is 0), as parts of the scalars they cover.
    private void Search(in Tail tail, int left, ReadOnlySpan<char> right, bool blank, int id, bool blobs = false, int offset = 0)
    {
        var seam = left;
        ReadOnlySpan<char> joined;
        if (left == 0) joined = right;
        else
        {
            tail.Chars.Slice(tail.Length - left, left).CopyTo(_seam);
            if (blank) _seam[seam++] = ' ';
            right.CopyTo(_seam.AsSpan(seam));
            joined = _seam.AsSpan(0, seam + right.Length);
        }
        // An encoded run across the seam is searched only when some run of it decodes to text: the run reading of an id and the
        // number after it ("balance" 1234) decodes to binary, and the plain reading of the same characters is Readings' business.
        if (blobs && !EncodedBlobs.MayHoldText(joined)) return;
        // Outside ASCII every detector is admitted, so the joinable ones stand for the normalised text too.
        var admitted = _detectors.Admitted(TextTraits.Of(joined));
        admitted &= blobs ? _detectors.Joinable | TextMasker.BlobBit : _detectors.Joinable | TextMasker.NormaliseBit;
        if ((admitted & (blobs ? TextMasker.BlobBit : _detectors.Joinable)) == 0) return;
        var found = new List<Finding>();
        _detectors.Find(joined, admitted, found);
        foreach (var finding in found)
        {
            if (!Disguises.Joinable(finding) || (left > 0 && (finding.Start >= left || finding.End <= seam))) continue;
            var parts = new List<(int Piece, int Offset)>(finding.Length);
            for (var at = finding.Start; at < finding.End; at++)
            {
                if (at < left) parts.Add((tail.Piece[tail.Length - left + at], tail.Offset[tail.Length - left + at]));
                else if (at >= seam) parts.Add((id, offset + at - seam));
            }
            if (!NamesAllow(parts)) continue;
            var replacement = values.Replace(new Finding(0, finding.Length, finding.Entity, finding.Priority), joined.Slice(finding.Start, finding.Length)) ?? "";
            foreach (var (piece, at) in parts) _parts.Add((piece, at, replacement));
        }
    }

    // A value read across property names takes in no two names with a value between them: {"twitter":"@bob","web":"bob.com"}
    // is two labelled values, not one address; {"alice@exa":{"mple.com":1}} and {"alice":"@example.com"} are one.
    private bool NamesAllow(List<(int Piece, int Offset)> parts)
    {
        if (_names.Count == 0 || _namesOnly) return true;
        var lastName = -1;
        var valueSince = false;
        var previous = -1;
        foreach (var (piece, _) in parts)
        {
            if (piece == previous) continue;
            previous = piece;
            if (_names.Contains(piece))
            {
                if (lastName >= 0 && valueSince) return false;
                lastName = piece;
                valueSince = false;
            }
            else if (lastName >= 0) valueSince = true;
        }
        return true;
    }

    /// <summary>Masks each part of each value found in the scalars it touches, then reads the tail anew.</summary>
    private void Rewrite(ReadOnlySpan<char> text, int id)
    {
        // The part of each scalar a finding covers: (piece id) -> (from, to) in that scalar's text.
        var parts = new Dictionary<int, List<(int From, int To, string Replacement)>>();
        foreach (var (piece, offset, replacement) in _parts.OrderBy(p => p.Piece).ThenBy(p => p.Offset))
        {
            if (!parts.TryGetValue(piece, out var list)) parts[piece] = list = [];
            if (list.Count > 0 && list[^1].To > offset) continue; // covered by a value already
            if (list.Count > 0 && list[^1].Replacement == replacement && list[^1].To == offset) list[^1] = (list[^1].From, offset + 1, replacement);
            else list.Add((offset, offset + 1, replacement));
        }
        _parts.Clear();
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
        // The tail read again from the scalars as they now stand; a masked part ends any encoded run.
        ReadTail();
        _run = _valueRun = 0;
        _runSignal = _valueRunSignal = false;
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
            _names.Remove(_firstId);
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
