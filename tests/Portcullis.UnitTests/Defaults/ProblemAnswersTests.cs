using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Portcullis.Defaults.Problems;

namespace Portcullis.UnitTests.Defaults;

public class ProblemAnswersTests
{
    [Fact]
    public void Unreadable_json_is_a_400_that_says_where()
    {
        var json = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Dictionary<string, string>>("{\"sql\": 5}"));
        var (status, _, _, detail) = ProblemAnswers.Classify(new BadHttpRequestException("Failed to read parameter", 400, json));
        Assert.Equal(400, status);
        Assert.Contains("$.sql", detail);
        Assert.DoesNotContain("System.", detail);
    }

    [Fact]
    public void Json_nested_too_deep_is_a_400()
    {
        var json = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<JsonElement>(new string('[', 100) + new string(']', 100)));
        var (status, _, _, detail) = ProblemAnswers.Classify(json);
        Assert.Equal(400, status);
        Assert.Contains("deeper than", detail);
    }

    [Theory]
    [InlineData(413)]
    [InlineData(415)]
    [InlineData(400)]
    public void Bad_requests_keep_their_status(int code) =>
        Assert.Equal(code, ProblemAnswers.Classify(new BadHttpRequestException("bad", code)).Status);

    [Fact]
    public void A_form_over_its_limits_is_a_413() =>
        Assert.Equal(413, ProblemAnswers.Classify(new InvalidDataException("Form value count limit 256 exceeded.")).Status);

    [Fact]
    public void Anything_else_is_a_bare_500_that_says_nothing_of_the_server()
    {
        var (status, _, _, detail) = ProblemAnswers.Classify(new InvalidOperationException("connection string Password=hunter2"));
        Assert.Equal(500, status);
        Assert.DoesNotContain("hunter2", detail);
        Assert.DoesNotContain("Exception", detail);
    }
}
