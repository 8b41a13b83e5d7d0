using System.Text;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// Values longer than the streaming overlap (8 KiB) and values cut by the chunks of a streamed text body, however small
/// the chunks: cut at every byte, the output is the output of one piece.
/// </summary>
public class LongValueTests
{
    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    public static TheoryData<string, string, string> Long()
    {
        var filler = string.Concat(Enumerable.Repeat("lorem ipsum dolor sit amet ", 400)); // ~10.8 KiB of text
        var deep = Base64(filler + "contact alice@example.com now");
        var key = "-----BEGIN PRIVATE KEY-----\n" + string.Join("\n", Enumerable.Range(0, 200).Select(i => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{i:D8}keymaterial{i:D8}keymaterialabcdefghij")))) + "\n-----END PRIVATE KEY-----";
        return new()
        {
            { "text/plain", $"start {deep} end", deep[^40..] },
            { "text/plain", $"log\n{key}\nafter", "keymaterial" },
            { "application/json", $"{{\"blob\":\"{deep}\"}}", deep[^40..] },

        };
    }

    [Theory]
    [MemberData(nameof(Long))]
    public void A_long_value_is_masked_whole_and_cut(string contentType, string body, string part) =>
        Evasion.AssertHidden(contentType, body, part);

    [Theory]
    [InlineData("text/plain", 1)]
    [InlineData("text/plain", 2)]
    [InlineData("text/plain", 5)]
    [InlineData("text/csv", 1)]
    public void An_adversary_cutting_the_text_gets_the_answer_of_one_piece(string contentType, int size)
    {
        var body = new StringBuilder();
        for (var i = 0; i < 700; i++) body.Append("line ").Append(i).Append(", ok; value ").Append(i * 7).Append('\n');
        body.Append("mail: alice@exam,ple.com; card 4111 1111 1111 1111; b64 YWxpY2VAZXhhbXBsZS5jb20=; spaced a l i c e @ e x a m p l e . o r g\n");
        for (var i = 0; i < 700; i++) body.Append("line ").Append(i).Append(", ok\n");
        var whole = Evasion.Whole(contentType, body.ToString()).Output;
        Assert.Equal(whole, Evasion.Pieces(contentType, body.ToString(), size));
        foreach (var part in new[] { "alice", "4111 1111", "YWxpY2VA", "e x a m p l e" }) Assert.DoesNotContain(part, whole);
    }

    [Fact]
    public void A_long_ordinary_text_passes_unchanged_in_any_cut()
    {
        var body = string.Concat(Enumerable.Range(0, 3000).Select(i => $"{i}: the quick brown fox jumps over the lazy dog\n"))
                   + new string('x', 20_000) + "\n" + Convert.ToBase64String(new byte[30_000].Select((_, i) => (byte)(i * 37 % 251)).ToArray());
        Evasion.AssertKept("text/plain", body);
        Assert.Equal(body, Evasion.Pieces("text/plain", body, 7));
    }
}
