using System.Text;
using Portcullis.Masking.Detectors;

namespace Portcullis.Masking.Streaming;

/// <summary>
/// Masks text (command output, logs, CSV) chunk by chunk. The end of each chunk is held back, as far as the
/// longest value a detector can find, and masked with the next chunk, so a value split across two chunks
/// is still caught. Memory holds one chunk and that tail.
/// </summary>
public sealed class TextStreamMasker(TextMasker detectors, Func<Finding, string, string> replace)
{
    public const int DefaultChunkSize = 64 * 1024;

    private TextMasker Detectors => detectors;

    /// <summary>The longest value held back for the next chunk (a PEM private key fits).</summary>
    public const int Overlap = 8 * 1024;

    public void Mask(Stream input, Stream output, int chunkSize = DefaultChunkSize)
    {
        using var run = Begin(output);
        var chunk = new byte[chunkSize];
        int read;
        while ((read = input.Read(chunk, 0, chunk.Length)) > 0) run.Write(chunk.AsSpan(0, read));
        run.Complete();
    }

    /// <summary>Begins masking one text given in pieces (<see cref="Run.Write"/>, then <see cref="Run.Complete"/>).</summary>
    public Run Begin(Stream output) => new(this, output);

    /// <summary>
    /// One text being masked as its pieces arrive: each piece is decoded (a character cut between pieces is
    /// completed by the next), masked up to the held-back tail, and written out before <see cref="Write"/> returns.
    /// </summary>
    public sealed class Run(TextStreamMasker masker, Stream output) : IMaskingRun
    {
        private readonly Decoder _decoder = new UTF8Encoding(false).GetDecoder();
        private readonly StreamWriter _writer = new(output, new UTF8Encoding(false), DefaultChunkSize, leaveOpen: true);
        private readonly StringBuilder _pending = new();
        private char[] _chars = [];

        public void Write(ReadOnlySpan<byte> piece)
        {
            Decode(piece, flush: false);
            if (_pending.Length > Overlap * 2)
            {
                var text = _pending.ToString();
                var findings = masker.Detectors.Find(text);
                // Emit up to the held-back tail, and never through a finding that reaches into it.
                var cut = text.Length - Overlap;
                foreach (var finding in findings)
                    if (finding.Start < cut && finding.End > cut) cut = finding.Start;
                _writer.Write(masker.Apply(text, findings, cut));
                _pending.Clear().Append(text, cut, text.Length - cut);
            }
            _writer.Flush();
        }

        public void Complete()
        {
            Decode([], flush: true);
            var rest = _pending.ToString();
            _pending.Clear();
            _writer.Write(masker.Apply(rest, masker.Detectors.Find(rest), rest.Length));
            _writer.Flush();
        }

        private void Decode(ReadOnlySpan<byte> piece, bool flush)
        {
            var count = _decoder.GetCharCount(piece, flush);
            if (_chars.Length < count) _chars = new char[Math.Max(count, 1024)];
            var decoded = _decoder.GetChars(piece, _chars, flush);
            _pending.Append(_chars, 0, decoded);
        }

        public void Dispose() => _writer.Dispose();
    }

    private string Apply(string text, List<Finding> findings, int upTo)
    {
        var masked = new StringBuilder(upTo);
        var at = 0;
        foreach (var finding in findings)
        {
            if (finding.End > upTo) break;
            masked.Append(text, at, finding.Start - at).Append(replace(finding, text.Substring(finding.Start, finding.Length)));
            at = finding.End;
        }
        return masked.Append(text, at, upTo - at).ToString();
    }
}

/// <summary>One output being masked as its pieces arrive: each <see cref="Write"/> writes out what it could mask.</summary>
public interface IMaskingRun : IDisposable
{
    void Write(ReadOnlySpan<byte> piece);

    /// <summary>Masks and writes what was held back; the output is then whole.</summary>
    void Complete();
}
