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

    /// <summary>The longest value held back for the next chunk (a PEM private key fits).</summary>
    public const int Overlap = 8 * 1024;

    public void Mask(Stream input, Stream output, int chunkSize = DefaultChunkSize)
    {
        using var reader = new StreamReader(input, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: chunkSize, leaveOpen: true);
        using var writer = new StreamWriter(output, new UTF8Encoding(false), chunkSize, leaveOpen: true);
        var chunk = new char[chunkSize];
        var pending = new StringBuilder();
        int read;
        while ((read = reader.Read(chunk, 0, chunk.Length)) > 0)
        {
            pending.Append(chunk, 0, read);
            if (pending.Length <= Overlap * 2) continue;
            var text = pending.ToString();
            var findings = detectors.Find(text);
            // Emit up to the held-back tail, and never through a finding that reaches into it.
            var cut = text.Length - Overlap;
            foreach (var finding in findings)
                if (finding.Start < cut && finding.End > cut) cut = finding.Start;
            writer.Write(Apply(text, findings, cut));
            pending.Clear().Append(text, cut, text.Length - cut);
        }
        var rest = pending.ToString();
        writer.Write(Apply(rest, detectors.Find(rest), rest.Length));
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
