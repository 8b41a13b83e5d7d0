using Portcullis.Audit.Apis;

namespace Portcullis.UnitTests.Audit;

public class TranscriptTests
{
    [Theory]
    [InlineData("ls\r#; id", @"ls\r#; id")]
    [InlineData("echo \u001b[2K\u001b[1Ahidden", @"echo \x1b[2K\x1b[1Ahidden")]
    [InlineData("a\nb\tc\0d\u007f", @"a\nb\tc\x00d\x7f")]
    [InlineData("csi \u009b2J", @"csi \x9b2J")]
    [InlineData("rm -rf \u202e/ txt.exe", @"rm -rf \u202e/ txt.exe")] // right-to-left override
    [InlineData("zero\u200bwidth\u2028line", @"zero\u200bwidth\u2028line")]
    [InlineData(@"already \r escaped", @"already \\r escaped")] // a typed backslash cannot pass for an escape
    public void Control_and_format_characters_show_as_visible_escapes(string recorded, string shown) =>
        Assert.Equal(shown, Transcript.Visible(recorded));

    [Fact]
    public void A_lone_surrogate_shows_as_an_escape() => Assert.Equal(@"lone \ud800 and \udc00", Transcript.Visible("lone \ud800 and \udc00"));

    [Theory]
    [InlineData("SELECT name FROM customers WHERE city = 'Zürich'")]
    [InlineData("echo 😀 ✓ Ω")]
    [InlineData("")]
    public void Ordinary_text_is_unchanged(string text) => Assert.Same(text, Transcript.Visible(text));
}
