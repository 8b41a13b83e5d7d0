namespace Portcullis.UnitTests.Masking;

/// <summary>A CSV, HTML, XML or JSON document inside one JSON string: its cells and elements are read across as in a body of its own.</summary>
public class NestedDocumentTests
{
    [Theory]
    [InlineData("""{"export":"name,card\nbob,4111,1111,1111,1111\n"}""", "4111")]
    [InlineData("""{"export":"name;mail\nbob;alice@exam;ple.com\n"}""", "alice", "ple.com")]
    [InlineData("""{"html":"<td>4111</td><td>1111</td><td>1111</td><td>1111</td>"}""", "4111")]
    [InlineData("""{"html":"<p><b>alice@</b><i>example.com</i></p>"}""", "alice", "example")]
    [InlineData("""{"xml":"<u><l>alice</l><a>@</a><h>example.com</h></u>"}""", "alice", "example")]
    [InlineData("""{"tsv":"bob\t4111 1111\t1111 1111"}""", "4111", "1111 1111")]
    [InlineData("""{"json":"{\"a\":\"alice@exam\",\"b\":\"ple.com\"}"}""", "alice", "ple.com")]
    [InlineData("""{"json":"[4111,1111,1111,1111]"}""", "4111,1111")]
    public void A_document_in_a_json_string_is_read_across_its_cells(string body, params string[] parts) =>
        Evasion.AssertHidden("application/json", body, parts);

    [Theory]
    [InlineData("""{"csv":"year,count,total\n2019,2020,2021\n1234,5678,9012,3456\n"}""")]
    [InlineData("""{"html":"<p>Hello, <b>world</b>; see <a href=\"/docs\">the docs</a>.</p>"}""")]
    [InlineData("""{"csv":"user,domain\nalice,example.com\n"}""")]
    [InlineData("""{"json":"{\"user\":\"alice\",\"domain\":\"example.com\"}"}""")]
    public void A_document_in_a_json_string_that_makes_no_value_stays(string body) => Evasion.AssertKept("application/json", body);
}
