using Portcullis.Defaults.Configuration;

namespace Portcullis.UnitTests.Defaults;

public class DurationTextTests
{
    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("5s", 5_000)]
    [InlineData(" 2m ", 120_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("8784h", 31_622_400_000)] // 366 days, the longest
    public void Reads_durations_as_people_write_them(string text, long milliseconds)
    {
        Assert.True(DurationText.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
    }

    [Theory]
    [InlineData("1e300h")]
    [InlineData("NaNm")]
    [InlineData("Infinityh")]
    [InlineData("-5m")]
    [InlineData("+5m")]
    [InlineData("0s")]
    [InlineData("0.00000001ms")]
    [InlineData("99999999999999999999h")]
    [InlineData("9000h")]
    [InlineData("1e3m")]
    [InlineData("1,5h")]
    [InlineData("0x10s")]
    [InlineData("5")]
    [InlineData("m")]
    [InlineData("")]
    [InlineData("5 years")]
    [InlineData("\u0000m")]
    [InlineData("٥m")] // Arabic-Indic five: a digit to Unicode, not to us
    public void Refuses_what_is_not_a_plain_positive_duration_within_a_year(string text) =>
        Assert.False(DurationText.TryParse(text, out _));
}
