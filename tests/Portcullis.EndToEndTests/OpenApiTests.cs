using System.Net;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>Each running service describes its API (no token needed) and, in Development as the stack runs, serves its reference page.</summary>
[Collection(StackCollection.Name)]
public sealed class OpenApiTests(PortcullisStack stack)
{
    [Theory]
    [InlineData("gateway", "/sql/{connection}")]
    [InlineData("policy", "/policy/evaluate")]
    [InlineData("approval", "/approvals/{id}/approve")]
    [InlineData("audit", "/sessions/{id}/verify")]
    public async Task Each_service_publishes_its_document_and_reference_page(string service, string path)
    {
        var client = service switch
        {
            "gateway" => stack.Gateway,
            "policy" => stack.Policy,
            "approval" => stack.Approval,
            _ => stack.Audit,
        };
        using var response = await client.GetAsync("openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.StartsWith("3.1", document.GetProperty("openapi").GetString());
        Assert.True(document.GetProperty("paths").TryGetProperty(path, out _), $"{service} does not document {path}");
        Assert.Equal("bearer", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer")
            .GetProperty("scheme").GetString());

        using var page = await client.GetAsync("scalar/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("openapi/v1.json", await page.Content.ReadAsStringAsync());
    }
}
