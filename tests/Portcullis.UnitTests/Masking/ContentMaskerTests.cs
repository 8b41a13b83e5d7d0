using System.Text;
using System.Text.Json;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking;
using Portcullis.Masking.Detectors;

namespace Portcullis.UnitTests.Masking;

public class ContentMaskerTests
{
    private static readonly ContentMasker Masker = new(DetectorSet.From(new MaskingConfig { Detectors = ["email"] }));

    private static (string Output, IReadOnlyDictionary<string, int> Counts) Mask(string contentType, string body)
    {
        var tally = new MaskingTally();
        var output = Masker.Mask(contentType, Encoding.UTF8.GetBytes(body), tally);
        return (Encoding.UTF8.GetString(output), tally.Counts);
    }

    [Fact]
    public void Masks_emails_in_json_values_and_keeps_the_document_shape()
    {
        var (output, counts) = Mask("application/json; charset=utf-8",
            """{"id":1,"email":"ada.lovelace@example.com","notes":"cc grace@example.org, thanks","score":1.50,"ok":true,"tags":null}""");

        using var document = JsonDocument.Parse(output);
        var root = document.RootElement;
        Assert.Equal("[EMAIL]", root.GetProperty("email").GetString());
        Assert.Equal("cc [EMAIL], thanks", root.GetProperty("notes").GetString());
        Assert.Equal("1.50", root.GetProperty("score").GetRawText());
        Assert.True(root.GetProperty("ok").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("tags").ValueKind);
        Assert.Equal(2, counts["EMAIL"]);
        Assert.DoesNotContain("example", output);
    }

    [Fact]
    public void Masks_emails_used_as_json_property_names()
    {
        var (output, counts) = Mask("application/json", """{"owners":{"ada@example.com":"admin"}}""");
        Assert.Equal("""{"owners":{"[EMAIL]":"admin"}}""", output);
        Assert.Equal(1, counts["EMAIL"]);
    }

    [Fact]
    public void Masks_escaped_emails_in_json()
    {
        // \u0040 is '@': the masker reads the decoded value, not the raw bytes.
        var (output, _) = Mask("application/json", """{"e":"ada\u0040example.com"}""");
        Assert.Equal("""{"e":"[EMAIL]"}""", output);
    }

    [Fact]
    public void Invalid_json_is_still_masked_as_text()
    {
        var (output, counts) = Mask("application/json", """{"email":"ada@example.com", oops""");
        Assert.Equal("""{"email":"[EMAIL]", oops""", output);
        Assert.Equal(1, counts["EMAIL"]);
    }

    [Fact]
    public void Masks_plain_text_and_csv()
    {
        var (output, counts) = Mask("text/csv", "1,Ada,ada@example.com\n2,Grace,grace.hopper@example.org\n");
        Assert.Equal("1,Ada,[EMAIL]\n2,Grace,[EMAIL]\n", output);
        Assert.Equal(2, counts["EMAIL"]);
    }

    [Fact]
    public void Refuses_content_it_cannot_inspect()
    {
        var tally = new MaskingTally();
        Assert.Throws<UnmaskableContentException>(() => Masker.Mask("application/octet-stream", [1, 2, 3], tally));
    }

    [Theory]
    [InlineData("no address here")]
    [InlineData("user@localhost")]
    [InlineData("version 1.2@3.4")]
    [InlineData("@example.com")]
    public void Leaves_text_without_emails_alone(string text)
    {
        var (output, counts) = Mask("text/plain", text);
        Assert.Equal(text, output);
        Assert.Empty(counts);
    }

    [Fact]
    public void Unknown_detectors_in_configuration_are_an_error()
    {
        var error = Assert.Throws<InvalidOperationException>(() => DetectorSet.From(new MaskingConfig { Detectors = ["emial"] }));
        Assert.Contains("emial", error.Message);
    }
}
