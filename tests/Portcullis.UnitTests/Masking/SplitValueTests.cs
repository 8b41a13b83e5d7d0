using System.Text;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

/// <summary>
/// A value split so that no one field, item, cell or element holds it: JSON members and array items, CSV and TSV
/// cells, HTML and XML elements and attributes. The parts are masked; fields beside a value, and numbers in
/// neighbouring cells that do not make a card, stay as they are.
/// </summary>
public class SplitValueTests
{
    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig(), null));

    private static (string Output, MaskingTally Tally) Mask(string contentType, string body)
    {
        var tally = new MaskingTally();
        return (Encoding.UTF8.GetString(Masker.Mask("demo", contentType, Encoding.UTF8.GetBytes(body), tally)), tally);
    }

    /// <summary>Masks the body written one byte at a time, as the streaming path may receive it.</summary>
    private static string Streamed(string contentType, string body)
    {
        var output = new MemoryStream();
        using (var run = Masker.Begin("demo", contentType, output, new MaskingTally()))
        {
            foreach (var b in Encoding.UTF8.GetBytes(body)) run.Write([b]);
            run.Complete();
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }

    public static TheoryData<string, string, string, string[]> Split() => new()
    {
        { "application/json", """{"a":"alice@exam","b":"ple.com"}""", "EMAIL", ["alice", "exam", "ple.com"] },
        { "application/json", """{"id":7,"a":"alice@","b":"example.com","c":"ok"}""", "EMAIL", ["alice", "example"] },
        { "application/json", """["4111 1111","1111 1111"]""", "CARD", ["4111", "1111"] },
        { "application/json", """[4111,1111,1111,1111]""", "CARD", ["4111", "1111"] },
        { "application/json", """{"x":["alice","@","example.com"]}""", "EMAIL", ["alice", "example"] },
        { "application/json", """[{"p":"alice@exam"},{"p":"ple.com"}]""", "EMAIL", ["alice", "ple.com"] },
        { "application/json", """{"k":"AKIAIOSFOD","v":"NN7EXAMPLE"}""", "AWS_ACCESS_KEY", ["AKIAIOSFOD", "NN7EXAMPLE"] },
        { "application/json", """{"a":"alice@exam","b":"ple.com","c":"bob@example.org"}""", "EMAIL", ["alice", "ple.com", "bob"] },
        { "text/csv", "name,card\nbob,4111,1111,1111,1111\n", "CARD", ["4111", "1111"] },
        { "text/csv", "name;mail\nbob;alice@exam;ple.com\n", "EMAIL", ["alice", "exam"] },
        { "text/csv", "name,card\n\"bob\",\"4111111\",\"111111111\"\n", "CARD", ["4111111"] },
        { "text/tab-separated-values", "bob\t4111 1111\t1111 1111\n", "CARD", ["4111", "1111"] },
        { "text/html", "<p><b>alice@</b><i>example.com</i></p>", "EMAIL", ["alice", "example"] },
        { "text/html", "<a title=\"alice@\" data-x=\"example.com\">x</a>", "EMAIL", ["alice", "example"] },
        { "application/xml", "<user><local>alice</local><at>@</at><host>example.com</host></user>", "EMAIL", ["alice", "example"] },
        { "text/html", "<td>4111</td><td>1111</td><td>1111</td><td>1111</td>", "CARD", ["4111", "1111"] },
        { "text/html", "<p>Customer 1: <b>ada@</b><i>example.com</i></p><table><tr><td>4111</td><td>1111</td><td>1111</td><td>1111</td></tr></table>",
            "EMAIL", ["ada@", "example", "4111"] },
        { "text/csv", "id,name,card\n1,Ada,ada@exam,ple.com,vip\n", "EMAIL", ["exam", "ple.com"] },
        { "application/json", """{"a":"alice@exam","b":"ple.com","c":"4111"}""", "EMAIL", ["alice", "ple.com"] },
    };

    [Theory]
    [MemberData(nameof(Split))]
    public void A_value_split_across_fields_is_masked(string contentType, string body, string entity, string[] parts)
    {
        var (output, tally) = Mask(contentType, body);

        Assert.True(tally.Counts.ContainsKey(entity), $"{entity} not found in {body}: {output}");
        foreach (var part in parts) Assert.DoesNotContain(part, output);
        Assert.Equal(output, Streamed(contentType, body));
    }

    [Theory]
    [InlineData("application/json", """{"user":"alice","domain":"example.com"}""")]
    [InlineData("application/json", """{"twitter":"@bob","web":"bob.com"}""")]
    [InlineData("application/json", """[1234,5678,9012,3456]""")]
    [InlineData("application/json", """{"year":2024,"count":13,"total":4111,"ids":[1111,1111,1111]}""")]
    [InlineData("application/json", """{"first":"Ada","last":"Lovelace","city":"London","zip":"W1"}""")]
    [InlineData("text/csv", "year,count,total\n2019,2020,2021\n1234,5678,9012,3456\n")]
    [InlineData("text/csv", "user,domain\nalice,example.com\n")]
    [InlineData("text/html", "<p>Hello, <b>world</b>; see <a href=\"/docs\">the docs</a>.</p>")]
    [InlineData("text/plain", "In 2019, 2020, 2021 and 2022 we shipped 1,234,567 units.")]
    public void Keeps_neighbouring_fields_that_make_no_value(string contentType, string body)
    {
        var (output, tally) = Mask(contentType, body);

        Assert.Equal(body, output);
        Assert.Empty(tally.Counts);
        Assert.Equal(body, Streamed(contentType, body));
    }

    [Theory]
    [InlineData("application/json", """{"label":"Email","value":"alice@example.com"}""", """{"label":"Email","value":"[EMAIL]"}""")]
    [InlineData("application/json", """["Contact","alice@example.com","today"]""", """["Contact","[EMAIL]","today"]""")]
    [InlineData("text/csv", "label,value\nEmail,alice@example.com\n", "label,value\nEmail,[EMAIL]\n")]
    [InlineData("text/html", "<td>Email</td><td>alice@example.com</td>", "<td>Email</td><td>[EMAIL]</td>")]
    public void A_whole_value_beside_a_label_is_masked_alone(string contentType, string body, string expected)
    {
        var (output, tally) = Mask(contentType, body);

        Assert.Equal(expected, output);
        Assert.Equal(1, tally.Counts["EMAIL"]);
    }
}
