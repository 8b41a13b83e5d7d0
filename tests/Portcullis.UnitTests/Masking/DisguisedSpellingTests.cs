using System.Text;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// Values written so that no detector reads them as they stand: quoted-printable, base32, base64 shorter than a
/// blob, one character at a time with a separator between each, and backwards. Each class is tried in a text
/// body and in a JSON value; the near misses of each class must stay as they are.
/// </summary>
public class DisguisedSpellingTests
{
    private const string Email = "ada.lovelace@example.com";
    private const string Card = "4111111111111111";

    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), null));

    private static (string Output, MaskingTally Tally) Mask(string contentType, string body)
    {
        var tally = new MaskingTally();
        return (Encoding.UTF8.GetString(Masker.Mask("demo", contentType, Encoding.UTF8.GetBytes(body), tally)), tally);
    }

    private static string Base32(string text, bool pad)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var bytes = Encoding.UTF8.GetBytes(text);
        var output = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in bytes)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                output.Append(alphabet[(buffer >> bits) & 31]);
            }
        }
        if (bits > 0) output.Append(alphabet[(buffer << (5 - bits)) & 31]);
        while (pad && output.Length % 8 != 0) output.Append('=');
        return output.ToString();
    }

    private static string Reverse(string text) => new([.. text.Reverse()]);

    public static TheoryData<string, string, string[]> Disguised() => new()
    {
        // Quoted-printable: =40 for '@', =2E for '.', soft line breaks inside a value.
        { "ada.lovelace=40example.com", "EMAIL", ["lovelace", "example"] },
        { "mail: ada.lovelace=\r\n@exam=\r\nple.com end", "EMAIL", ["lovelace", "exam"] },
        { "ada.lovelace=40example=2Ecom", "EMAIL", ["lovelace"] },
        { "card 4111=201111=201111=201111", "CARD", ["4111=20"] },
        { "ada.lovelace=\n=40example.com", "EMAIL", ["lovelace"] },
        // Base32, padded and not, of an address and of a card.
        { "contact " + Base32(Email, pad: true), "EMAIL", [Base32(Email, pad: false)[..16]] },
        { Base32(Email, pad: false), "EMAIL", [Base32(Email, pad: false)[..16]] },
        { "pan " + Base32("card " + Card, pad: false), "CARD", [Base32("card " + Card, pad: false)[..16]] },
        { "key " + Base32("a1@example.com", pad: true).ToLowerInvariant(), "EMAIL", [Base32("a1@example.com", pad: false).ToLowerInvariant()[..16]] },
        // Base64 shorter than a blob's sixteen characters that decodes to exactly one value.
        { "write to " + Convert.ToBase64String(Encoding.UTF8.GetBytes("jo@ex.com")), "EMAIL", ["am9AZXguY29t"] },
        { Convert.ToBase64String(Encoding.UTF8.GetBytes("ab@cd.io")).TrimEnd('='), "EMAIL", ["YWJAY2QuaW8"] },
        // One character at a time: blanks, dots, dashes, pipes between them.
        { "a d a . l o v e l a c e @ e x a m p l e . c o m", "EMAIL", ["l o v e", "e x a m"] },
        { "write to a d a  @  e x a m p l e . c o m today", "EMAIL", ["e x a m"] },
        { "a.d.a.@.e.x.a.m.p.l.e...c.o.m", "EMAIL", ["e.x.a.m"] },
        { "a-d-a-@-e-x-a-m-p-l-e-.-c-o-m", "EMAIL", ["e-x-a-m"] },
        { "4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1", "CARD", ["4-1-1-1"] },
        { "4|1|1|1|1|1|1|1|1|1|1|1|1|1|1|1", "CARD", ["4|1|1|1"] },
        { "\"a d a @ e x a m p l e . c o m\"", "EMAIL", ["e x a m", "a d a"] },
        { "A K I A I O S F O D N N 7 E X A M P L E", "AWS_ACCESS_KEY", ["A K I A I O S F"] },
        // Backwards.
        { Reverse(Email), "EMAIL", ["ecalevol", "elpmaxe"] },
        { "note: " + Reverse(Email) + " (reversed)", "EMAIL", ["ecalevol"] },
        { Reverse("4111 1111 1111 1111"), "CARD", ["1111 1114"] },
        { "pan " + Reverse("5500005555555559"), "CARD", [Reverse("5500005555555559")] },
    };

    [Theory]
    [MemberData(nameof(Disguised))]
    public void A_disguised_value_in_text_is_masked(string body, string entity, string[] raw)
    {
        var (output, tally) = Mask("text/plain", body);

        Assert.True(tally.Counts.ContainsKey(entity), $"{entity} not found in '{body}': '{output}'");
        foreach (var part in raw) Assert.DoesNotContain(part, output);
    }

    [Theory]
    [MemberData(nameof(Disguised))]
    public void A_disguised_value_in_json_is_masked(string body, string entity, string[] raw)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new { note = body });
        var (output, tally) = Mask("application/json", json);

        Assert.True(tally.Counts.ContainsKey(entity), $"{entity} not found in {json}: {output}");
        foreach (var part in raw) Assert.DoesNotContain(part, output);
    }

    [Theory]
    [InlineData("query a=1&b=20&c=3D")]
    [InlineData("count=20 limit=40 offset=2E")]
    [InlineData("Content-Type: text/plain; charset=utf-8")]
    [InlineData("HELLOWORLDHELLOWORLD is a constant")]
    [InlineData("ids: userId12 Order123 Password1 ABCdef123 abcDEF12")]
    [InlineData("v e r s i o n 1 . 2 . 3 . 4")]
    [InlineData("s p a c e d  o u t  w o r d s")]
    [InlineData("1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    [InlineData("a.b.c.d.e.f.g.h")]
    [InlineData("moc.elpmaxe is example.com backwards")]
    [InlineData("order 1234567890123456 shipped")]
    [InlineData("ticket 9876543210987654 closed")]
    [InlineData("contact ada.lovelace@example.com")]
    public void Keeps_what_only_looks_like_a_disguise(string body)
    {
        var (output, tally) = Mask("text/plain", body);

        if (body.Contains('@'))
        {
            Assert.Equal(1, tally.Counts.GetValueOrDefault("EMAIL"));
            return;
        }
        Assert.Equal(body, output);
        Assert.Empty(tally.Counts);
    }
}
