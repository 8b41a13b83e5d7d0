using Portcullis.Gateway.Mcp;

namespace Portcullis.UnitTests.Gateway;

/// <summary>The resource URIs the gateway refuses to pass to an upstream MCP server, and those it passes.</summary>
public class McpResourceUriTests
{
    [Theory]
    [InlineData("file:///srv/demo/../../etc/passwd", "'..' segment")]
    [InlineData("file:///srv/demo/./a.txt", "'..' segment")]
    [InlineData("demo://resource/static/%2e%2e/x", "percent-encoded")]
    [InlineData("demo://resource/static/..%2Fetc", "percent-encoded")]
    [InlineData("demo://resource/static/%252e%252e/x", "percent-encoded")]
    [InlineData("file:///srv\\..\\etc", "backslash")]
    [InlineData("file://attacker.example/share/x", "another host")]
    [InlineData("/etc/passwd", "not an absolute URI")]
    [InlineData("demo://x\n", "control character")]
    [InlineData("", "empty")]
    public void Refuses_uris_whose_meaning_an_upstream_could_change(string uri, string reason)
    {
        var problem = McpResourceUris.Problem(uri);
        Assert.NotNull(problem);
        Assert.Contains(reason, problem);
    }

    [Theory]
    [InlineData("demo://resource/static/document/architecture.md")]
    [InlineData("demo://resource/dynamic/text/3")]
    [InlineData("file:///srv/demo/notes.txt")]
    [InlineData("postgres://agent@db:5432/customers/schema")]
    [InlineData("https://example.com/a?b=..")]
    public void Passes_plain_uris(string uri) => Assert.Null(McpResourceUris.Problem(uri));
}
