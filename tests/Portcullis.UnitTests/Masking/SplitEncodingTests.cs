namespace Portcullis.UnitTests.Masking;

/// <summary>Base64, base32 and hex of a value cut into fields, cells or chunks: the parts are decoded as the run they make.</summary>
public class SplitEncodingTests
{
    [Theory]
    [InlineData("application/json", """{"a":"YWxpY2VA","b":"ZXhhbXBsZS5jb20="}""", "YWxpY2VA", "ZXhhbXBsZS5jb20")]
    [InlineData("application/json", """["YWxpY2VAZXhh","bXBsZS5jb20="]""", "YWxpY2VAZXhh", "bXBsZS5jb20")]
    [InlineData("application/json", """{"p1":"NDExMTEx","p2":"MTExMTEx","p3":"MTExMQ=="}""", "NDExMTEx", "MTExMTEx")]
    [InlineData("application/json", """{"h1":"616c69636540","h2":"6578616d706c652e636f6d"}""", "616c69636540", "6578616d706c652e636f6d")]
    [InlineData("application/json", """{"YWxpY2VA":"ZXhhbXBsZS5jb20="}""", "YWxpY2VA", "ZXhhbXBsZS5jb20")]
    [InlineData("text/csv", "k,v\nYWxpY2VA,ZXhhbXBsZS5jb20=\n", "YWxpY2VA", "ZXhhbXBsZS5jb20")]
    [InlineData("text/html", "<i>YWxpY2VA</i><b>ZXhhbXBsZS5jb20=</b>", "YWxpY2VA", "ZXhhbXBsZS5jb20")]
    public void Base64_and_hex_split_across_fields_are_masked(string contentType, string body, params string[] parts) =>
        Evasion.AssertHidden(contentType, body, parts);

    [Theory]
    [InlineData("application/json", """{"a":"Hello","b":"World"}""")]
    [InlineData("application/json", """{"sha":"3f786850e387550fdab836ed7e6dc881de23001b","tree":"b2e1f5c4a8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3"}""")]
    [InlineData("application/json", """{"id":"aGVsbG8gd29y","next":"bGQgYW5kIG1vcmU="}""")]
    public void Fields_whose_joined_encoding_hides_nothing_stay(string contentType, string body) => Evasion.AssertKept(contentType, body);
}
