using System.Text;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// The streaming path (outputs masked as their pieces arrive) against what the whole-body path refuses and finds:
/// bodies the UTF-8 masker cannot read, and disguised values cut at every place by the pieces.
/// </summary>
public class StreamedEvasionTests
{
    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), null));

    /// <summary>Masks <paramref name="body"/> written in pieces of <paramref name="size"/> bytes, as the masking service does for chunks.</summary>
    private static (string Output, MaskingTally Tally) Pieces(string contentType, byte[] body, int size)
    {
        var output = new MemoryStream();
        var tally = new MaskingTally();
        using (var run = Masker.Begin("demo", contentType, output, tally))
        {
            for (var at = 0; at < body.Length; at += size) run.Write(body.AsSpan(at, Math.Min(size, body.Length - at)));
            run.Complete();
        }
        return (Encoding.UTF8.GetString(output.ToArray()), tally);
    }

    public static TheoryData<string, byte[]> Unreadable() => new()
    {
        { "text/plain", [0xFF, 0xFE, .. Encoding.Unicode.GetBytes("ada@example.com")] },
        { "text/plain", [0xFE, 0xFF, .. Encoding.BigEndianUnicode.GetBytes("ada@example.com")] },
        { "text/plain", [0xFF, 0xFE, 0, 0, .. new UTF32Encoding(false, false).GetBytes("ada@example.com")] },
        { "text/plain", Encoding.Unicode.GetBytes("ada@example.com") },
        { "application/json", Encoding.Unicode.GetBytes("{\"e\":\"ada@example.com\"}") },
        { "text/plain", [.. Encoding.UTF8.GetBytes("header ok\n"), 0x00, 0x01, 0x02, .. Encoding.UTF8.GetBytes("binary")] },
        { "", [0xFF, 0xFE, .. Encoding.Unicode.GetBytes("card 4111 1111 1111 1111")] },
    };

    [Theory]
    [MemberData(nameof(Unreadable))]
    public void A_streamed_body_the_masker_cannot_read_is_refused_however_it_is_cut(string contentType, byte[] body)
    {
        Assert.Throws<UnmaskableContentException>(() => Masker.Mask("demo", contentType, body, new MaskingTally()));
        foreach (var size in new[] { 1, 2, 3, 7, 64 * 1024 })
            Assert.Throws<UnmaskableContentException>(() => Pieces(contentType, body, size));
        Assert.Throws<UnmaskableContentException>(() =>
            Masker.Mask("demo", contentType, new MemoryStream(body), new MemoryStream(), new MaskingTally(), chunkSize: 5));
    }

    [Theory]
    [InlineData("text/plain; charset=utf-16")]
    [InlineData("application/json; charset=UTF-32")]
    [InlineData("text/csv; charset=ebcdic-cp-us")]
    public void A_streamed_body_in_a_charset_that_is_not_ascii_compatible_is_refused(string contentType) =>
        Assert.Throws<UnmaskableContentException>(() => Masker.Begin("demo", contentType, new MemoryStream(), new MaskingTally()));

    public static TheoryData<string, string, string> SplitEverywhere() => new()
    {
        { "text/plain", "log: ada.lovelace%40example.com done", "lovelace" },
        { "text/plain", "log: ada.lovelace=\r\n=40example.com done", "lovelace" },
        { "text/plain", "log: a d a . l o v e l a c e @ e x a m p l e . c o m done", "l o v e" },
        { "text/plain", "log: moc.elpmaxe@ecalevol.ada done", "ecalevol" },
        { "text/plain", "log: " + Convert.ToBase64String(Encoding.UTF8.GetBytes("card 4111 1111 1111 1111")) + " done", "Y2FyZCA0MTEx" },
        { "text/plain", "log: ada.lovelace\\u0040example.com done", "lovelace" },
        { "text/plain", "log: 4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1 done", "4-1-1-1" },
        { "text/plain", "log: ada.lovelace＠example．com done", "lovelace" },
        { "application/json", "{\"log\":\"ada.lovelace=40example.com\",\"n\":1}", "lovelace" },
        { "application/json", "{\"log\":\"a d a @ e x a m p l e . c o m\"}", "e x a m" },
    };

    [Theory]
    [MemberData(nameof(SplitEverywhere))]
    public void A_disguised_value_cut_by_the_pieces_at_any_place_is_masked_as_in_one_piece(string contentType, string body, string raw)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var whole = Encoding.UTF8.GetString(Masker.Mask("demo", contentType, bytes, new MaskingTally()));
        Assert.DoesNotContain(raw, whole);
        foreach (var size in new[] { 1, 2, 3, 5, 8, 13 })
        {
            var (output, tally) = Pieces(contentType, bytes, size);
            Assert.Equal(whole, output);
            Assert.NotEmpty(tally.Counts);
        }
    }
}
