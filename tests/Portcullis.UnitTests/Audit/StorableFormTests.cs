using System.Text;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;

namespace Portcullis.UnitTests.Audit;

public class StorableFormTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 2, 15, 0, 0, TimeSpan.Zero);
    private static readonly Principal Agent = new("agent-7", null, ["agents"]);

    private static RequestReceived Received(string sql, string session = "s-1") =>
        new(Guid.Parse("7b0e6f9c-1d2a-4b3c-8d4e-5f6a7b8c9d0e"), session, Agent, new AgentAction(Protocols.Sql, "warehouse", Sql: sql), At, 4);

    [Fact]
    public void An_event_postgres_can_store_is_stored_as_it_is()
    {
        var received = Received("SELECT '[escaped] not really', 'a\\b', '😀é'");
        var (stored, escaped) = StorableForm.Of(received);
        Assert.False(escaped);
        Assert.Same(received, stored);
    }

    [Fact]
    public void A_nul_is_stored_as_a_visible_escape_and_the_hash_is_the_originals()
    {
        var received = Received("SELECT 1\0; DROP TABLE x -- a\\b");
        var (stored, escaped) = StorableForm.Of(received);

        Assert.True(escaped);
        var sql = ((RequestReceived)stored).Action.Sql!;
        Assert.Equal(@"[escaped] SELECT 1\u0000; DROP TABLE x -- a\\b", sql);
        Assert.DoesNotContain('\0', AuditChain.Serialize(stored).Select(b => (char)b));
        Assert.DoesNotContain(@"\u0000""", Encoding.UTF8.GetString(AuditChain.Serialize(stored))); // no NUL escape PostgreSQL would refuse
        Assert.Equal(AuditChain.Hash("prev", "m-1", nameof(RequestReceived), received),
            AuditChain.Hash("prev", "m-1", nameof(RequestReceived), stored, escaped: true));
        // Hashed as stored (the escape taken for the content), it is another hash: the escape is not what was sent.
        Assert.NotEqual(AuditChain.Hash("prev", "m-1", nameof(RequestReceived), received),
            AuditChain.Hash("prev", "m-1", nameof(RequestReceived), stored));
    }

    [Fact]
    public void In_an_escaped_event_strings_that_look_escaped_and_dictionary_keys_read_back_exactly()
    {
        var masked = new ResponseMasked(Guid.NewGuid(), "s-2",
            new Dictionary<string, int> { ["Email\0"] = 1, [@"[escaped] x\u0000"] = 2, ["plain"] = 3 },
            ["[escaped] rule", "rule\0b"], 10, 0, At, null, null);
        var (stored, escaped) = StorableForm.Of(masked);

        Assert.True(escaped);
        var counts = ((ResponseMasked)stored).CountsByEntity;
        Assert.All(counts.Keys, key => Assert.True(StorableText.IsStorable(key)));
        Assert.Contains("plain", counts.Keys);
        Assert.Contains(@"[escaped] [escaped] x\\u0000", counts.Keys); // a look-alike is escaped too, so it cannot pass for one
        Assert.Equal(AuditChain.Hash("p", "m", "ResponseMasked", masked), AuditChain.Hash("p", "m", "ResponseMasked", stored, escaped: true));
    }

    [Theory]
    [InlineData("a\0b")]
    [InlineData("\0")]
    [InlineData(@"back\slash\u0000 and \\u0000")]
    [InlineData("[escaped] ")]
    public void Escaping_is_reversible_and_storable(string original)
    {
        var escaped = StorableText.Escape(original);
        Assert.True(StorableText.IsStorable(escaped));
        Assert.StartsWith(StorableText.Marker, escaped);
        Assert.True(StorableText.TryUnescape(escaped, out var back));
        Assert.Equal(original, back);
    }

    [Theory]
    [InlineData("a\0b", false)]
    [InlineData("😀", true)]
    [InlineData("\u0001\u001b[2J", true)] // PostgreSQL keeps other control characters; the transcript is where they are escaped
    public void Storable_means_what_postgres_text_and_jsonb_accept(string text, bool storable) =>
        Assert.Equal(storable, StorableText.IsStorable(text));

    // Lone surrogates in code, not in attributes: an attribute's string is stored as UTF-8 and would arrive as U+FFFD.
    [Fact]
    public void Lone_surrogates_are_not_storable_and_escape_reversibly()
    {
        foreach (var original in new[] { "lone \ud800 high", "lone \udc00 low", "trailing \ud83d", "\udc00\ud800 reversed pair" })
        {
            Assert.False(StorableText.IsStorable(original));
            var escaped = StorableText.Escape(original);
            Assert.True(StorableText.IsStorable(escaped));
            Assert.True(StorableText.TryUnescape(escaped, out var back));
            Assert.Equal(original, back);
        }
        Assert.Equal(@"[escaped] a\ud800b", StorableText.Escape("a\ud800b"));
    }

    [Theory]
    [InlineData(@"[escaped] a\x")]
    [InlineData(@"[escaped] a\u00")]
    [InlineData(@"[escaped] trailing\")]
    [InlineData("not escaped")]
    public void A_string_escape_could_not_have_written_is_not_read_back(string stored) =>
        Assert.False(StorableText.TryUnescape(stored, out _));

    [Fact]
    public void An_escaped_event_changed_into_an_invalid_escape_fails_to_hash_rather_than_verify()
    {
        var (stored, _) = StorableForm.Of(Received("a\0"));
        var tampered = (RequestReceived)stored with { Action = ((RequestReceived)stored).Action with { Sql = @"[escaped] \q" } };
        Assert.Throws<FormatException>(() => AuditChain.Hash("p", "m", nameof(RequestReceived), tampered, escaped: true));
    }
}
