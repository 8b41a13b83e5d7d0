namespace Portcullis.UnitTests.Masking;

/// <summary>
/// Encodings a gateway reads: base32 in either case, padded or not, with or without digits; base58 (Bitcoin's alphabet);
/// Ascii85 (bare or between &lt;~ ~&gt;) and base85 (RFC 1924, git, Python's b85). What decodes to a value is masked whole.
/// </summary>
public class EncodingAlphabetTests
{
    [Theory]
    [InlineData("mfwgsy3fibsxqylnobwgkltdn5wq====")]      // base32, lower case
    [InlineData("MFWGSY3FIBSXQYLNOBWGKLTDN5WQ")]          // base32, no padding
    [InlineData("mfsgcqdfpbqw24dmmuxgg33n")]              // base32 of ada@example.com, lower case
    [InlineData("gqytcmjrgeytcmjrgeytcmjrge")]            // base32 of a card, lower case, no padding
    [InlineData("v6kQV2YWzch796kUZ8gq7He")]               // base58
    [InlineData("7SogHed2oVnGBuVVXCcsFN")]                // base58 of a card
    [InlineData("@;KXfAO'gO@;Tt\"AM.J2D#")]               // Ascii85
    [InlineData("<~@;KXfAO'gO@;Tt\"AM.J2D#~>")]           // Ascii85, Adobe's delimiters
    [InlineData("VQgt*Wk6+kVQp}1WiDfHZ2")]                // base85 (RFC 1924)
    public void An_encoded_value_is_masked(string encoded)
    {
        var text = $"note: {encoded} end";
        Evasion.AssertHidden("text/plain", text, encoded);
        Evasion.AssertHidden("application/json", System.Text.Json.JsonSerializer.Serialize(new { v = encoded }), encoded.Replace("\"", "\\u0022"), encoded);
    }

    [Theory]
    [InlineData("text/plain", "the internationalization of counterrevolutionaries continues")]
    [InlineData("text/plain", "Bitcoin address 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 and tx 5KJvsngHeMpm884wtkJNzQGaCErckhHJBGFsvd3VyK5qMZXj3hS")]
    [InlineData("text/plain", "ipfs QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG pinned")]
    [InlineData("application/json", """{"hash":"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=","path":"/usr/local/lib/python3.12/site-packages"}""")]
    [InlineData("text/plain", "if (a<b && c>d) { x = y*2; return !z; } // ok? @see #12")]
    public void Ordinary_text_and_binary_encodings_stay(string contentType, string body) => Evasion.AssertKept(contentType, body);
}
