using System.Text;

namespace Portcullis.Demo;

/// <summary>
/// A careless upstream that returns personal data and secrets in disguise (look-alike characters, other
/// separators, names that say what a value is, encodings), for the masking tests and the demo.
/// </summary>
public static class DisguisedApi
{
    public static WebApplication MapDisguisedApi(this WebApplication app)
    {
        app.MapGet("/customers/{id:int}/disguised", (int id, HttpResponse response) =>
        {
            response.Headers["X-Contact-Alt"] = "grace%40example.org";
            var blob = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("card 4111 1111 1111 1111"));
            return Results.Text($$"""
                {"id":{{id}},
                 "contact":"ada\uFF20example.com",
                 "backup_contact":"ada [at] example [dot] com",
                 "invisible":"gr\u200Bace@exa\u00ADmple.org",
                 "card":"4111.1111.1111.1111",
                 "card_number":"4111 1111",
                 "amount":4.111111111111111e15,
                 "phone":"+33 6 12 34 56 78",
                 "whatsapp_e164":33612345678,
                 "pwd":"x",
                 "aws_secret_access_key_prod":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 "alert_hook":"https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/Xy7aBcD3eFgH1iJkLmNoPqRs",
                 "note":"SSN 123456789, call 415.555.0123",
                 "blob":"{{blob}}",
                 "version":"1.2.3.4",
                 "build":"release 2.1.0.7"}
                """, "application/json");
        });
        // Escapes and encodings of the bytes: each field hides ada@example.com (or a card) its own way.
        app.MapGet("/customers/{id:int}/escaped", (int id) =>
        {
            const string email = "ada@example.com";
            var utf8 = Encoding.UTF8.GetBytes(email);
            var wrapped = Convert.ToBase64String(Encoding.UTF8.GetBytes("note: " + new string('x', 50) + " ada@example.com end"),
                Base64FormattingOptions.InsertLineBreaks);
            return Results.Json(new Dictionary<string, object>
            {
                ["id"] = id,
                ["backslash_u"] = @"ada\u0040example.com",
                ["backslash_x"] = @"ada\x40example\x2ecom",
                ["braced"] = @"ada\u{40}example.com",
                ["percent_u"] = "ada%u0040example.com",
                ["percent_thrice"] = "ada%25252540example.com",
                ["hex_literal"] = "0x" + Convert.ToHexString(utf8).ToLowerInvariant(),
                ["utf16_base64"] = Convert.ToBase64String(Encoding.Unicode.GetBytes(email)),
                ["separated_hex"] = string.Join(":", utf8.Select(b => b.ToString("x2"))),
                ["wrapped_base64"] = wrapped,
                ["plain"] = "nothing to hide here",
            });
        });

        // Spellings and splits: quoted-printable, base32, short base64, one letter at a time, backwards, and values
        // cut across fields, array items, CSV cells and HTML elements.
        app.MapGet("/customers/{id:int}/spelled", (int id) => Results.Json(new Dictionary<string, object>
        {
            ["id"] = id,
            ["quoted_printable"] = "ada=40example.com",
            ["base32"] = Base32(Encoding.UTF8.GetBytes("ada@example.com")),
            ["short_base64"] = Convert.ToBase64String(Encoding.UTF8.GetBytes("jo@ex.com")),
            ["letters"] = "a d a @ e x a m p l e . c o m",
            ["backwards"] = "moc.elpmaxe@ada",
            ["left"] = "ada@exam",
            ["right"] = "ple.com",
            ["card_parts"] = new[] { "4111 1111", "1111 1111" },
            ["first_name"] = "Ada",
            ["city"] = "London",
        }));
        // Escape syntaxes of other languages, card and IBAN groups in other forms, RFC 5322's corners of an address, digits as
        // words and in other scripts, and values split across JSON names: each field hides ada@example.com, a card or an IBAN.
        app.MapGet("/customers/{id:int}/disguised-more", (int id) => Results.Json(new Dictionary<string, object>
        {
            ["id"] = id,
            ["css"] = @"\61 da@example.com",
            ["css_wide"] = string.Concat("ada@example.com".Select(c => $"\\{(int)c:x6}")),
            ["html_decimal"] = string.Concat("ada@example.com".Select(c => $"&#{(int)c}")),
            ["sql_chr"] = string.Join("||", "ada@example.com".Select(c => $"CHR({(int)c})")),
            ["octal"] = string.Concat("ada@example.com".Select(c => "\\" + Convert.ToString(c, 8))),
            ["comment"] = "ada(work)@example.com",
            ["quoted"] = "\"ada lovelace\"@example.com",
            ["literal"] = "ada@[192.0.2.1]",
            ["words"] = "four one one one one one one one one one one one one one one one",
            ["arabic_indic"] = "\u0664\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661",
            ["card_wrapped"] = "4111 1111\n1111 1111",
            ["amex"] = "3782-822463-10005",
            ["iban_lower"] = "gb82 west 1234 5698 7654 32",
            ["names"] = new object[] { new Dictionary<string, int> { ["ada@exa"] = 1 }, new Dictionary<string, int> { ["mple.com"] = 2 } },
            ["city"] = "London",
        }));
        app.MapGet("/customers/{id:int}/split.csv", (int id) =>
            Results.Text($"id,name,card\n{id},Ada,4111,1111,1111,1111\n{id},Ada,ada@exam,ple.com\n", "text/csv"));
        app.MapGet("/customers/{id:int}/split.html", (int id) =>
            Results.Text($"<p>Customer {id}: <b>ada@</b><i>example.com</i></p><table><tr><td>4111</td><td>1111</td><td>1111</td><td>1111</td></tr></table>",
                "text/html"));
        return app;
    }

    private static string Base32(byte[] bytes)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
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
        return output.ToString();
    }
}
