using System.Text;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// Disguises past the earlier corpora's, class by class: escape syntaxes of other languages (CSS, octal, HTML references
/// without ';' or by name, SQL CHR/CHAR, quoted-printable of every byte), card and IBAN groups in other forms (dotted,
/// slashed, Amex 4-6-5, across a line break, IBANs in lower case), RFC 5322's corners of an address (comments, quoted local
/// parts, domain literals, -at- and _dot_), digits as words (seven languages, run together, "double"), hex bytes as a list
/// of literals, base64 longer than one decoding window, and values split across JSON names. Each comes back without its
/// parts, whole and cut into pieces; the look-alikes that are not values come back as they went in.
/// </summary>
public class DisguisedClassesTests
{
    private const string Email = "alice@example.com";

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Z85(string text)
    {
        const string alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
        var bytes = Encoding.UTF8.GetBytes(text.PadRight((text.Length + 3) / 4 * 4));
        var output = new StringBuilder();
        for (var i = 0; i < bytes.Length; i += 4)
        {
            var value = (uint)(bytes[i] << 24 | bytes[i + 1] << 16 | bytes[i + 2] << 8 | bytes[i + 3]);
            var group = new char[5];
            for (var k = 4; k >= 0; k--, value /= 85) group[k] = alphabet[(int)(value % 85)];
            output.Append(group);
        }
        return output.ToString();
    }

    // Three hundred base64 runs of a kilobyte each, blank-separated: more decoded text than one text's budget.
    private static string ManyRuns(Func<int, string> run) => string.Join(" ", Enumerable.Range(0, 300).Select(run));

    public static TheoryData<string, string, string[]> Hidden() => new()
    {
        // CSS escapes: one to six hex digits, a blank ending the short ones.
        { "text/plain", @"\61 lice@example.com", ["\\61", "lice"] },
        { "text/plain", @"alice\40 example.com", ["alice", "example"] },
        { "text/plain", string.Concat(Email.Select(c => $"\\{(int)c:x} ")), ["\\61 \\6c", "\\40"] },
        { "text/plain", string.Concat(Email.Select(c => $"\\{(int)c:x6}")), ["\\000061", "\\000040"] },
        { "text/css", "a::after { content: \"" + string.Concat(Email.Select(c => $"\\{(int)c:X4}")) + "\" }", ["\\0061", "\\0040"] },
        // HTML references: hex, decimal without ';', leading zeros, by name, escaped once more.
        { "text/plain", string.Concat(Email.Select(c => $"&#x{(int)c:x};")), ["&#x61", "&#x40"] },
        { "text/plain", string.Concat(Email.Select(c => $"&#{(int)c}")), ["&#97", "&#64"] },
        { "text/plain", string.Concat(Email.Select(c => $"&#0000{(int)c};")), ["&#000097"] },
        { "text/plain", "alice&#64example&#46com", ["alice", "example"] },
        { "text/plain", "alice&commat;example&period;com", ["alice", "example"] },
        { "text/html", "<p>alice&amp;#64;example&amp;#46;com</p>", ["alice", "example"] },
        { "text/plain", "alice&lowbar;smith&commat;example&period;com", ["alice", "smith", "example"] },
        // Octal (C, Python, the shell), three digits and the short ones among them.
        { "text/plain", string.Concat(Email.Select(c => "\\" + Convert.ToString(c, 8))), ["\\141", "\\100"] },
        { "text/plain", "printf 'alice\\100example.com'", ["alice", "example"] },
        // SQL building a value from code points.
        { "text/plain", "SELECT " + string.Join("||", Email.Select(c => $"CHR({(int)c})")), ["CHR(97)", "CHR(64)"] },
        { "text/plain", "SELECT CONCAT(" + string.Join(", ", Email.Select(c => $"CHAR({(int)c})")) + ")", ["CHAR(97)", "CHAR(64)"] },
        { "text/plain", "SELECT CHAR(" + string.Join(",", Email.Select(c => (int)c)) + ")", ["97,108", "64,101"] },
        { "text/plain", "SELECT " + string.Join(" + ", Email.Select(c => $"NCHAR({(int)c})")), ["NCHAR(97)", "NCHAR(64)"] },
        { "text/plain", "SELECT 'alice'||chr(64)||'example.com'", ["alice", "example"] },
        // %u and quoted-printable of every byte, letters too.
        { "text/plain", string.Concat(Email.Select(c => $"%u{(int)c:x4}")), ["%u0061", "%u0040"] },
        { "text/plain", string.Concat(Email.Select(c => $"={(int)c:X2}")), ["=61=6C", "=40"] },
        { "text/plain", "=61lice=40example.com", ["lice", "example"] },
        // Punycode and internationalised addresses.
        { "text/plain", "mail alice@xn--exmple-cua.com ok", ["alice", "xn--"] },
        { "text/plain", "mail алиса@пример.рф ok", ["алиса", "пример"] },
        // Cards: dotted, slashed, underscored, mixed, Amex 4-6-5, across a line break.
        { "text/plain", "card 4111.1111.1111.1111 ok", ["4111", "1111"] },
        { "text/plain", "card 4111/1111/1111/1111 ok", ["4111", "1111"] },
        { "text/plain", "card 4111_1111_1111_1111 ok", ["4111", "1111"] },
        { "text/plain", "card 4111 1111-1111.1111 ok", ["4111", "1111"] },
        { "text/plain", "amex 3782 822463 10005 ok", ["3782", "822463"] },
        { "text/plain", "amex 3782-822463-10005 ok", ["3782", "822463"] },
        { "text/plain", "amex 3782.822463.10005 ok", ["3782", "822463"] },
        { "text/plain", "card 41111111\n11111111 ok", ["41111111", "11111111"] },
        { "text/plain", "card 4111 1111\n1111 1111 ok", ["4111", "1111"] },
        { "text/plain", "card 4111-1111-\r\n1111-1111 ok", ["4111", "1111"] },
        { "text/plain", "card 4111 1111 1111\n    1111 ok", ["4111", "1111"] },
        // IBANs in lower or mixed case, spaced, dashed, dotted, wrapped.
        { "text/plain", "iban gb82west12345698765432 ok", ["gb82", "west", "5698"] },
        { "text/plain", "iban gb82 west 1234 5698 7654 32 ok", ["gb82", "west", "5698"] },
        { "text/plain", "iban Gb82 West 1234 5698 7654 32 ok", ["Gb82", "West", "5698"] },
        { "text/plain", "iban GB82-WEST-1234-5698-7654-32 ok", ["GB82", "5698"] },
        { "text/plain", "iban GB82.WEST.1234.5698.7654.32 ok", ["GB82", "5698"] },
        { "text/plain", "iban GB82 WEST 1234\n5698 7654 32 ok", ["GB82", "5698"] },
        { "application/json", """{"iban":"de89 3704 0044 0532 0130 00"}""", ["de89", "3704"] },
        // RFC 5322's corners: comments, quoted local parts, domain literals.
        { "text/plain", "mail alice(comment)@example.com ok", ["alice", "example"] },
        { "text/plain", "mail alice@(comment)example.com ok", ["alice", "example"] },
        { "text/plain", "mail \"alice\"@example.com ok", ["alice", "example"] },
        { "text/plain", "mail \"alice smith\"@example.com ok", ["alice", "smith", "example"] },
        { "text/plain", "mail alice@[127.0.0.1] ok", ["alice", "127.0.0.1"] },
        { "text/plain", "mail alice@[IPv6:2001:db8::1] ok", ["alice", "2001:db8"] },
        { "application/json", """{"a":"alice(x)@example.com"}""", ["alice", "example"] },
        { "application/json", """{"a":"\"alice smith\"@example.com"}""", ["alice", "smith", "example"] },
        { "application/json", """{"a":"\u0022alice smith\u0022@example.com"}""", ["alice", "smith", "example"] },
        // "at" and "dot" in other dress.
        { "text/plain", "write to alice at example dot com please", ["alice", "example"] },
        { "text/plain", "write to alice AT example DOT com please", ["alice", "example"] },
        { "text/plain", "write to alice (at) example (dot) com please", ["alice", "example"] },
        { "text/plain", "write to alice _at_ example _dot_ com please", ["alice", "example"] },
        { "text/plain", "write to alice -at- example -dot- com please", ["alice", "example"] },
        { "text/plain", "write to alice*at*example*dot*com please", ["alice", "example"] },
        { "text/plain", "write to alice at example.com please", ["alice", "example"] },
        { "text/plain", "write to alice.smith at example dot co dot uk please", ["smith", "example"] },
        { "text/plain", "write to alice at example period com please", ["alice", "example"] },
        // Digits as words: English, other languages, hyphenated, run together, "double", a phone with "plus".
        { "text/plain", "card four one one one one one one one one one one one one one one one", ["four one", "one one"] },
        { "text/plain", "card Four-One-One-One-One-One-One-One-One-One-One-One-One-One-One-One", ["Four", "One-One"] },
        { "text/plain", "card fouroneoneoneoneoneoneoneoneoneoneoneoneoneoneone", ["fourone"] },
        { "text/plain", "card four one double one one one one one one one one one one one one one", ["four one", "one one"] },
        { "text/plain", "card 4 one 1 one 1 one 1 one 1 one 1 one 1 one 1 one", ["4 one", "1 one"] },
        { "text/plain", "call two zero two five five five zero one nine nine", ["two zero", "five five"] },
        { "text/plain", "call plus one two zero two five five five zero one nine nine", ["two zero", "five five"] },
        { "text/plain", "tarjeta cuatro uno uno uno uno uno uno uno uno uno uno uno uno uno uno uno", ["cuatro", "uno uno"] },
        { "text/plain", "karte vier eins eins eins eins eins eins eins eins eins eins eins eins eins eins eins", ["vier", "eins eins"] },
        { "text/plain", "carte quatre un un un un un un un un un un un un un un un", ["quatre", "un un"] },
        { "text/plain", "carta quattro uno uno uno uno uno uno uno uno uno uno uno uno uno uno uno", ["quattro", "uno uno"] },
        { "application/json", """{"a":"four one one one one one one one one one one one one one one one"}""", ["four", "one one"] },
        // Digits of other scripts.
        { "text/plain", "card ٤١١١١١١١١١١١١١١١", ["١١١١"] },
        { "text/plain", "card ۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱", ["۱۱۱۱"] },
        { "text/plain", "card ４１１１ １１１１ １１１１ １１１１", ["１１１１"] },
        { "text/plain", "card ४१११ ११११ ११११ ११११", ["११११"] },
        { "text/plain", "card ৪১১১ ১১১১ ১১১১ ১১১১", ["১১১১"] },
        // Encodings: Z85, base64url without padding, hex bytes as literals, base64 past one window.
        { "text/plain", "z85 " + Z85(Email + " ok"), [Z85(Email + " ok")[..10]] },
        { "text/plain", "b64url " + B64("contact alice@example.com now?>").TrimEnd('=').Replace('+', '-').Replace('/', '_'), ["Y29udGFjdCBhbGljZ"] },
        { "text/plain", "hex " + string.Join(":", Encoding.UTF8.GetBytes(Email).Select(b => b.ToString("x2"))), ["61:6c", "40:65"] },
        { "text/plain", "hex " + string.Join(",", Encoding.UTF8.GetBytes(Email).Select(b => "0x" + b.ToString("x2"))), ["0x61", "0x40"] },
        { "text/plain", "hex {" + string.Join(", ", Encoding.UTF8.GetBytes(Email).Select(b => "0x" + b.ToString("X2"))) + "}", ["0x61", "0x40"] },
        { "text/plain", "bytes " + string.Join(" ", Encoding.UTF8.GetBytes(Email).Select(b => "\\x" + b.ToString("x2"))), ["x61", "x40"] },
        { "application/json", "{\"b\":\"" + B64(new string('a', 70_000) + " alice@example.com " + new string('b', 100)) + "\"}", ["YWFhYWFh"] },
        { "application/json", "{\"b\":\"" + B64(new string('a', 200_000) + " alice@example.com " + new string('b', 100)) + "\"}", ["YWFhYWFh"] },
        // Past the text's budget of decoded characters (enough harmless runs before it): masked unsearched, never passed.
        { "text/plain", ManyRuns(i => B64($"line {i}: " + new string('x', 1000))) + " " + B64("contact alice@example.com now"), [B64("contact alice@example.com now")[..16]] },
        { "application/json", "{\"log\":\"" + ManyRuns(i => B64($"line {i}: " + new string('x', 1000))) + " " + B64("contact alice@example.com now") + "\"}", [B64("contact alice@example.com now")[..16]] },
        // A value split across JSON names.
        { "application/json", """[{"alice@exa":1},{"mple.com":2}]""", ["alice", "mple.com"] },
        { "application/json", """{"alice@exa":1,"mple.com":2}""", ["alice", "mple.com"] },
        { "application/json", """{"alice@":{"example.com":true}}""", ["alice", "example"] },
        { "application/json", """{"4111 1111":1,"1111 1111":2}""", ["4111", "1111 1111"] },
        { "application/json", """["alice","@exa","mple.com"]""", ["alice", "mple.com"] },
    };

    [Theory]
    [MemberData(nameof(Hidden))]
    public void A_disguised_value_comes_back_without_its_parts(string contentType, string body, string[] parts)
    {
        var output = Evasion.AssertHidden(contentType, body, parts);

        Assert.NotEqual(body, output);
        Assert.False(output.Contains("alice", StringComparison.Ordinal) || output.Contains("lice@", StringComparison.Ordinal), output.Length > 300 ? output[..300] : output);
    }

    [Theory]
    [InlineData("text/plain", @"C:\Users\face\docs\report.txt and \d{3}-\d{2} in a pattern")]
    [InlineData("text/plain", "I have one or two cats, three dogs and four fish.")]
    [InlineData("text/plain", "one two three, go! Then five, six, pick up sticks.")]
    [InlineData("text/plain", "SELECT CHR(65) AS letter, CHAR(66) AS other")]
    [InlineData("text/plain", "columns created_at_utc and polka-dot-dress stay")]
    [InlineData("text/plain", "look at example.com and meet at noon")]
    [InlineData("text/html", "<p>Tom &amp; Jerry&nbsp;&copy; 2024 &lt;b&gt;</p>")]
    [InlineData("text/plain", "flags 0x1F, 0x2A, 0x3B and mac 00:1a:2b:3c:4d:5e")]
    [InlineData("text/plain", "f(x) = (a+b)@c and \"quoted\" text")]
    [InlineData("text/plain", "lines\n1234\n5678\nend")]
    [InlineData("application/json", """{"id":12,"name":"Ada","tags":["one","two"],"note":"gb is 2 letters"}""")]
    public void A_look_alike_that_is_no_value_comes_back_unchanged(string contentType, string body) =>
        Evasion.AssertKept(contentType, body);

    [Fact]
    public void Runs_of_binary_past_the_budget_are_not_masked_for_being_unsearched()
    {
        var random = new Random(7);
        Evasion.AssertKept("text/plain", ManyRuns(_ =>
        {
            var bytes = new byte[1000];
            random.NextBytes(bytes);
            bytes[0] = 0; // binary, whatever else the bytes happen to be
            return Convert.ToBase64String(bytes);
        }));
    }
}
