namespace Portcullis.UnitTests.Masking;

/// <summary>
/// What else a PayloadsAllTheThings-minded agent tries: confusable and full-width characters, invisible characters inside
/// values, entities and escapes of several languages, percent-encoding inside JSON, numbers as words, mixed separators,
/// email comments and quoted local parts, IBANs in lower case and spaced, keys and tokens split across fields.
/// </summary>
public class ConfusableTests
{
    [Theory]
    [InlineData("alice＠example.com", "alice")]
    [InlineData("card ４１１１ １１１１ １１１１ １１１１", "１１１１")]
    [InlineData("аlісе@ехаmрlе.соm", "ехаmрlе")]                         // Cyrillic look-alikes
    [InlineData("ali\u200Dce@exa\u00ADmple.com", "mple")]                 // zero-width joiner, soft hyphen
    [InlineData("4111\u200B1111\u200B1111\u200B1111", "1111\u200B1111")]
    [InlineData("alice&#64;example.com", "alice")]
    [InlineData("alice&commat;example&period;com", "alice")]
    [InlineData("alice&#x40;example.com", "alice")]
    [InlineData("alice\\u0040example.com", "alice")]                      // JS escape
    [InlineData("alice%40example.com", "alice")]
    [InlineData("alice%2540example%252Ecom", "alice")]
    [InlineData("card 4111-1111 1111.1111", "1111.1111")]
    [InlineData("iban GB82 WEST 1234 5698 7654 32", "5698 7654")]
    public void A_disguised_value_in_text_is_masked(string text, string part)
    {
        Evasion.AssertHidden("text/plain", $"value: {text} .", part);
        Evasion.AssertHidden("application/json", System.Text.Json.JsonSerializer.Serialize(new { v = text }), part);
    }

    [Theory]
    [InlineData("""{"v":"alice%40example.com"}""", "alice")]
    [InlineData("""{"v":"alice\u0040example.com"}""", "alice")]
    [InlineData("""{"h":"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9","p":".eyJzdWIiOiIxMjM0NTY3ODkwIn0","s":".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}""", "eyJzdWIiOiIxMjM0NTY3ODkwIn0")]
    [InlineData("""{"k":"AKIA","v":"IOSFODNN7EXAMPLE"}""", "IOSFODNN7EXAMPLE")]
    [InlineData("""{"t1":"ghp_16C7e42F292c69","t2":"25E7Bc2D7A8DDdA3CAdFa0"}""", "25E7Bc2D7A8DDdA3CAdFa0")]
    public void A_disguised_value_in_json_is_masked(string body, string part) => Evasion.AssertHidden("application/json", body, part);

    [Theory]
    [InlineData("text/plain", "Please look at the dashboard at 10 o'clock; résumé ＡＢＣ naïve café.")]
    [InlineData("text/plain", "Order 4111-1111 shipped; ref 1111.1111.")]
    [InlineData("text/plain", "one two three four five six seven eight nine ten")]
    public void Ordinary_text_stays(string contentType, string body) => Evasion.AssertKept(contentType, body);
}
