using System.Text;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// What every evasion test asks of a body: masked whole, written one byte at a time and in other cuts, none of the
/// value's parts come out, and every cut gives the same output as one piece (or the body is refused, whole and cut alike).
/// </summary>
internal static class Evasion
{
    public static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), null));

    public static (string Output, MaskingTally Tally) Whole(string contentType, string body)
    {
        var tally = new MaskingTally();
        return (Encoding.UTF8.GetString(Masker.Mask("demo", contentType, Encoding.UTF8.GetBytes(body), tally)), tally);
    }

    public static string Pieces(string contentType, string body, int size)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var output = new MemoryStream();
        using (var run = Masker.Begin("demo", contentType, output, new MaskingTally()))
        {
            for (var at = 0; at < bytes.Length; at += size) run.Write(bytes.AsSpan(at, Math.Min(size, bytes.Length - at)));
            run.Complete();
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>Asserts the parts never come out, whole or cut; returns the whole output.</summary>
    public static string AssertHidden(string contentType, string body, params string[] parts)
    {
        var (output, _) = Whole(contentType, body);
        foreach (var part in parts) Assert.False(output.Contains(part, StringComparison.Ordinal), $"'{part}' leaks from {Short(body)}: {Short(output)}");
        // One byte at a time for bodies of ordinary size; a JSON token cut that finely is read again at every byte.
        foreach (var size in body.Length < 20_000 ? new[] { 1, 3, 4096 } : [97, 4096])
            Assert.Equal(output, Pieces(contentType, body, size));
        return output;
    }

    /// <summary>Asserts the body comes out as it went in, whole and cut.</summary>
    public static void AssertKept(string contentType, string body)
    {
        Assert.Equal(body, Whole(contentType, body).Output);
        Assert.Equal(body, Pieces(contentType, body, 1));
    }

    private static string Short(string text) => text.Length <= 300 ? text : text[..150] + " ... " + text[^150..];
}
