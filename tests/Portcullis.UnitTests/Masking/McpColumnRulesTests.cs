using System.Text;
using System.Text.Json;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

/// <summary>An MCP tool's SQL rows (JSON text in the result) masked by the column origins policy found in the statement.</summary>
public class McpColumnRulesTests
{
    private static readonly MaskingPolicy Policy = MaskingPolicy.From(new MaskingConfig
    {
        Rules =
        [
            new MaskingRuleConfig { Id = "names", Connections = ["pgdemo"], Columns = ["demo.customers.name"], Strategy = "partial", Keep = 3 },
            new MaskingRuleConfig { Id = "ssns", Connections = ["pgdemo"], Columns = ["demo.customers.ssn"], Entity = "SSN" },
        ],
    }, null);

    private static string Result(string text) =>
        JsonSerializer.Serialize(new { content = new[] { new { type = "text", text } }, isError = false });

    private static JsonElement Rows(byte[] masked) =>
        JsonDocument.Parse(JsonDocument.Parse(masked).RootElement.GetProperty("content")[0].GetProperty("text").GetString()!).RootElement;

    private static byte[] Apply(string text, Dictionary<string, IReadOnlyList<string>> origins, string connection = "pgdemo") =>
        McpColumnRules.Apply(Policy, connection, Encoding.UTF8.GetBytes(Result(text)), origins, new MaskingTally());

    [Fact]
    public void Values_under_a_known_origin_are_masked_by_its_rule_under_any_name()
    {
        var rows = Rows(Apply("""[{"id":1,"n":"Ada Lovelace","city":"London"},{"id":2,"n":null,"city":"Paris"}]""",
            new() { ["n"] = ["demo.customers.name"] }));
        Assert.Equal("*********ace", rows[0].GetProperty("n").GetString());
        Assert.Equal(JsonValueKind.Null, rows[1].GetProperty("n").ValueKind);
        Assert.Equal("London", rows[0].GetProperty("city").GetString());
        Assert.Equal(1, rows[0].GetProperty("id").GetInt32());
    }

    [Fact]
    public void An_ambiguous_name_gets_the_strictest_candidate_rule_and_rows_under_an_object_are_found()
    {
        var rows = Rows(Apply("""{"rows":[{"x":"Ada Lovelace"}]}""",
            new() { ["x"] = ["demo.customers.name", "demo.customers.ssn"] })).GetProperty("rows");
        Assert.Equal("[SSN]", rows[0].GetProperty("x").GetString());
    }

    [Fact]
    public void Text_that_is_not_json_rows_is_refused_and_other_connections_are_left_alone()
    {
        Assert.Throws<UnmaskableContentException>(() => Apply("Ada Lovelace, 1", new() { ["name"] = ["demo.customers.name"] }));
        Assert.Throws<UnmaskableContentException>(() => Apply("""["Ada Lovelace"]""", new() { ["name"] = ["demo.customers.name"] }));
        var untouched = Result("""[{"name":"Ada Lovelace"}]""");
        Assert.Equal(untouched, Encoding.UTF8.GetString(Apply("""[{"name":"Ada Lovelace"}]""", new() { ["name"] = ["demo.customers.name"] }, "other")));
    }

    [Fact]
    public void Rows_anywhere_but_text_blocks_are_refused_when_a_column_is_masked()
    {
        // The same rows the text block would be masked in, carried where the column rules do not look.
        Dictionary<string, IReadOnlyList<string>> origins = new() { ["name"] = ["demo.customers.name"] };
        var rows = new[] { new { name = "Ada Lovelace" } };
        byte[] Raw(object result) => McpColumnRules.Apply(Policy, "pgdemo", JsonSerializer.SerializeToUtf8Bytes(result), origins, new MaskingTally());

        Assert.Throws<UnmaskableContentException>(() => Raw(new
        {
            content = new[] { new { type = "text", text = "[]" } }, structuredContent = new { rows }, isError = false,
        }));
        Assert.Throws<UnmaskableContentException>(() => Raw(new
        {
            content = new object[] { new { type = "resource", resource = new { uri = "x://rows", text = JsonSerializer.Serialize(rows) } } },
        }));
        Assert.Throws<UnmaskableContentException>(() => Raw(new { content = new { type = "text", text = JsonSerializer.Serialize(rows) } }));
        Assert.Throws<UnmaskableContentException>(() => Raw(new { content = new object[] { "Ada Lovelace" } }));
        // Beside the text, in the result's _meta or the text block's own.
        Assert.Throws<UnmaskableContentException>(() => Raw(new
        {
            content = new[] { new { type = "text", text = "[]" } }, _meta = new { rows },
        }));
        Assert.Throws<UnmaskableContentException>(() => Raw(new
        {
            content = new[] { new { type = "text", text = "[]", _meta = new { rows } } },
        }));
        // Beside the rows of an object: a count passes, a text or object does not.
        Assert.Throws<UnmaskableContentException>(() => Raw(new
        {
            content = new[] { new { type = "text", text = JsonSerializer.Serialize(new { rows, also = new { name = "Ada Lovelace" } }) } },
        }));
        Assert.DoesNotContain("Ada Lovelace", Encoding.UTF8.GetString(Raw(new
        {
            content = new[] { new { type = "text", text = JsonSerializer.Serialize(new { rows, rowCount = 1 }) } },
        })));
        // The text block alone, with its annotations, is masked as before.
        var masked = Encoding.UTF8.GetString(Raw(new
        {
            content = new[] { new { type = "text", text = JsonSerializer.Serialize(rows), annotations = new { priority = 0.5 } } },
        }));
        Assert.DoesNotContain("Ada Lovelace", masked);
    }
}
