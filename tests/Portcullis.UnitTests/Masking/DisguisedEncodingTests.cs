using System.Text;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// Values leaving in disguises past the corpora's: escapes a text body can carry, encodings of the bytes,
/// and bodies the UTF-8 masker cannot read (which are refused, not passed).
/// </summary>
public class DisguisedEncodingTests
{
    private const string Email = "ada.lovelace@example.com";

    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), Encoding.UTF8.GetBytes("test-hmac-key-0123456789")));

    private static (string Output, MaskingTally Tally) Mask(string contentType, byte[] body)
    {
        var tally = new MaskingTally();
        return (Encoding.UTF8.GetString(Masker.Mask("demo", contentType, body, tally)), tally);
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes);

    private static string B64(string text) => B64(Encoding.UTF8.GetBytes(text));

    public static TheoryData<string, string, string> EscapedInText() => new()
    {
        { "text/plain", "{\"e\":\"ada.lovelace\\u0040example.com\"}", "EMAIL" },
        { "application/x-ndjson", "{\"e\":\"ada.lovelace\\u0040example.com\"}\n", "EMAIL" },
        { "", "{\"e\":\"ada.lovelace\\u0040example.com\"}", "EMAIL" },
        { "text/plain", string.Concat(Email.Select(c => $"\\u{(int)c:x4}")), "EMAIL" },
        { "text/plain", string.Concat(Email.Select(c => $"\\x{(int)c:x2}")), "EMAIL" },
        { "text/plain", "{\"c\":\"\\u0034111111111111111\"}", "CARD" },
        { "text/plain", "ada.lovelace%252540example.com", "EMAIL" },
        { "text/plain", "ada.lovelace%25252540example.com", "EMAIL" },
        { "text/plain", B64("{\"e\":\"ada.lovelace\\u0040example.com\"}"), "EMAIL" },
        { "application/json", "{\"p\":\"" + B64("{\"e\":\"ada.lovelace\\u0040example.com\"}") + "\"}", "EMAIL" },
        { "text/plain", "0x" + Convert.ToHexString(Encoding.UTF8.GetBytes(Email)).ToLowerInvariant(), "EMAIL" },
        { "text/plain", B64(Encoding.Unicode.GetBytes(Email)), "EMAIL" },
        { "text/plain", B64(Encoding.BigEndianUnicode.GetBytes("card 4111 1111 1111 1111")), "CARD" },
        { "text/plain", Convert.ToHexString(Encoding.Unicode.GetBytes(Email)), "EMAIL" },
        { "text/plain", "bytes " + string.Join(":", Encoding.UTF8.GetBytes(Email).Select(b => b.ToString("x2"))) + " end", "EMAIL" },
        { "text/plain", string.Join(" ", Encoding.UTF8.GetBytes(Email).Select(b => b.ToString("X2"))), "EMAIL" },
        { "text/plain", string.Join("-", Encoding.UTF8.GetBytes("card 4111111111111111").Select(b => b.ToString("x2"))), "CARD" },
    };

    [Theory]
    [InlineData("mac 00:1a:2b:3c:4d:5e and 00-1A-2B-3C-4D-5E")]
    [InlineData("sha1 fingerprint 4a:1f:9c:22:0b:7e:d3:5a:61:88:c0:ff:12:34:ab:cd:ef:01:23:45")]
    [InlineData("numbers 10 20 30 40 50 60 70 80 90")]
    public void Keeps_hex_bytes_that_are_not_text(string body)
    {
        var (output, tally) = Mask("text/plain", Encoding.UTF8.GetBytes(body));

        Assert.Equal(body, output);
        Assert.Empty(tally.Counts);
    }

    [Theory]
    [MemberData(nameof(EscapedInText))]
    public void Masks_values_spelled_in_escapes_and_encodings(string contentType, string body, string entity)
    {
        var (output, tally) = Mask(contentType, Encoding.UTF8.GetBytes(body));

        Assert.NotEqual(body, output);
        Assert.True(tally.Counts.GetValueOrDefault(entity) > 0, $"{entity} not counted in: {output}");
    }

    [Fact]
    public void Keeps_backslashes_that_escape_nothing_sensitive()
    {
        const string body = "path C:\\users\\xavier\\notes.txt, regex \\x41+ and \\u00e9t\\u00e9 in \\n text";

        var (output, tally) = Mask("text/plain", Encoding.UTF8.GetBytes(body));

        Assert.Equal(body, output);
        Assert.Empty(tally.Counts);
    }

    [Theory]
    [InlineData("text/plain; charset=utf-16")]
    [InlineData("application/json; charset=UTF-32")]
    [InlineData("text/csv; charset=\"utf-16le\"")]
    [InlineData("text/plain; charset=ibm037")]
    public void Refuses_text_declared_in_an_encoding_it_cannot_read(string contentType)
    {
        Assert.Throws<UnmaskableContentException>(() => Mask(contentType, Encoding.Unicode.GetBytes(Email)));
        Assert.Throws<UnmaskableContentException>(() => Masker.Begin("demo", contentType, new MemoryStream(), new MaskingTally()));
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("")]
    [InlineData("application/json")]
    public void Refuses_utf16_bodies_with_or_without_a_byte_order_mark(string contentType)
    {
        Assert.Throws<UnmaskableContentException>(() => Mask(contentType, Encoding.Unicode.GetBytes(Email)));
        Assert.Throws<UnmaskableContentException>(() => Mask(contentType, [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(Email)]));
        Assert.Throws<UnmaskableContentException>(() => Mask(contentType, [.. Encoding.BigEndianUnicode.GetPreamble(), .. Encoding.BigEndianUnicode.GetBytes(Email)]));
    }

    [Theory]
    [InlineData("text/plain; charset=utf-8")]
    [InlineData("text/plain; charset=ISO-8859-1")]
    [InlineData("application/json; charset=\"utf-8\"")]
    public void Reads_ascii_compatible_charsets(string contentType)
    {
        var (output, _) = Mask(contentType, Encoding.UTF8.GetBytes(contentType.StartsWith("application/json") ? $"{{\"e\":\"{Email}\"}}" : Email));

        Assert.Contains("[EMAIL]", output);
    }
}

public class WrappedBase64Tests
{
    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), Encoding.UTF8.GetBytes("test-hmac-key-0123456789")));

    private const string Letter =
        "The customer record follows, with notes from the call centre about the order: contact ada.lovelace@example.com for the invoice, thanks.";

    private static string Wrap(string text, int width, string lineBreak) =>
        string.Join(lineBreak, Convert.ToBase64String(Encoding.UTF8.GetBytes(text)).Chunk(width).Select(c => new string(c)));

    [Theory]
    [InlineData(16, "\n")]
    [InlineData(20, "\n")]
    [InlineData(20, "\r\n")]
    [InlineData(64, "\n")]
    [InlineData(76, "\r\n")]
    public void Masks_a_value_split_across_the_lines_of_wrapped_base64(int width, string lineBreak)
    {
        var body = "attachment:\n" + Wrap(Letter, width, lineBreak) + "\nend";
        var tally = new MaskingTally();

        var output = Encoding.UTF8.GetString(Masker.Mask("demo", "text/plain", Encoding.UTF8.GetBytes(body), tally));

        Assert.Equal("attachment:\n[EMAIL]\nend", output);
        Assert.Equal(1, tally.Counts["EMAIL"]);
    }

    [Fact]
    public void Masks_wrapped_base64_in_a_json_string()
    {
        var body = "{\"file\":\"" + Wrap(Letter, 20, "\\n") + "\"}";
        var tally = new MaskingTally();

        var output = Encoding.UTF8.GetString(Masker.Mask("demo", "application/json", Encoding.UTF8.GetBytes(body), tally));

        Assert.Equal("{\"file\":\"[EMAIL]\"}", output);
    }

    [Fact]
    public void Keeps_lines_of_wrapped_base64_that_hide_nothing()
    {
        var body = Wrap("Nothing to see in this attachment, only a long and harmless sentence about the weather.", 20, "\n");

        var output = Encoding.UTF8.GetString(Masker.Mask("demo", "text/plain", Encoding.UTF8.GetBytes(body), new MaskingTally()));

        Assert.Equal(body, output);
    }
}
