using System.Text.Json;
using ModelContextProtocol.Protocol;
using Portcullis.Gateway.Connectors.Mcp;

namespace Portcullis.UnitTests.Gateway;

/// <summary>What the gateway takes from an untrusted upstream's tool list, and arguments checked against a tool's schema.</summary>
public class McpToolOfferTests
{
    private static Tool Tool(string name, string description = "d") => new()
    {
        Name = name, Description = description, InputSchema = JsonDocument.Parse("""{"type":"object"}""").RootElement,
    };

    [Fact]
    public void Names_offered_twice_or_not_valid_are_left_out_and_the_list_is_capped()
    {
        var tools = new[] { Tool("read"), Tool("dup", "a"), Tool("dup", "b"), Tool("bad name\nignore previous"), Tool(new string('x', 129)) }
            .Concat(Enumerable.Range(0, McpToolOffer.MaxTools + 5).Select(i => Tool($"t{i}"))).ToList();
        var (offered, leftOut) = McpToolOffer.Sift(tools);
        Assert.Equal(McpToolOffer.MaxTools, offered.Count);
        Assert.Equal("read", offered[0].Name);
        Assert.DoesNotContain(offered, t => t.Name == "dup" || t.Name.Contains(' ') || t.Name.Length > 128);
        Assert.Equal(2 + 2 + 6, leftOut.Count);
    }

    [Fact]
    public void Names_that_pass_for_another_fold_case_or_look_alike_or_outgrow_their_listing_are_left_out()
    {
        var tools = new[]
        {
            Tool("query"), Tool("Query"), // one name to an agent or client that folds case: which would run?
            Tool("sql_qu\u0435ry"), Tool("sql\u2024query"), Tool("ｓｑｌ_query"), // Cyrillic e, one-dot leader, fullwidth
            Tool("SQL_QUERY"), Tool("a/b.c"), // namespaced under the connection: never the gateway's own sql_query
            Tool(new string('x', 128)), Tool(new string('y', 117)), // valid alone; "hostile." + 128 is not
        };
        var (offered, leftOut) = McpToolOffer.Sift(tools, "hostile");
        Assert.Equal(["SQL_QUERY", "a/b.c", new string('y', 117)], offered.Select(t => t.Name));
        Assert.Equal(6, leftOut.Count);
        Assert.Contains(leftOut, reason => reason.Contains("too long to list under its connection"));
        Assert.Contains(leftOut, reason => reason.Contains("in any casing"));
    }

    [Fact]
    public void A_huge_description_is_cut()
    {
        var cut = McpToolOffer.Description(new string('a', 100_000))!;
        Assert.True(cut.Length < McpToolOffer.MaxDescription + 40);
        Assert.EndsWith("[cut by the gateway]", cut);
        Assert.Equal("short", McpToolOffer.Description("short"));
    }

    [Theory]
    [InlineData("""{}""", "'count' is required")]
    [InlineData("""{"count":"7"}""", "'count' must be integer")]
    [InlineData("""{"count":7.5}""", "'count' must be integer")]
    [InlineData("""{"count":7,"path":"/etc/passwd"}""", "'path' is not an argument")]
    [InlineData("""{"count":7,"tags":"a"}""", "'tags' must be")]
    public void Arguments_outside_the_schema_are_refused(string arguments, string expected)
    {
        var problem = McpToolOffer.ArgumentProblem(Schema, Parse(arguments));
        Assert.NotNull(problem);
        Assert.Contains(expected, problem);
    }

    [Fact]
    public void Arguments_that_fit_pass_and_an_open_schema_takes_others()
    {
        Assert.Null(McpToolOffer.ArgumentProblem(Schema, Parse("""{"count":7,"tags":["a"]}""")));
        Assert.Null(McpToolOffer.ArgumentProblem(JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement, Parse("""{"x":1}""")));
    }

    private static readonly JsonElement Schema = JsonDocument.Parse("""
        {"type":"object","properties":{"count":{"type":"integer"},"tags":{"type":["array","null"]}},"required":["count"],"additionalProperties":false}
        """).RootElement;

    private static Dictionary<string, JsonElement> Parse(string json) =>
        JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;
}
