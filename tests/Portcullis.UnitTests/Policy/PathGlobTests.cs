using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Policy;

public class PathGlobTests
{
    [Theory]
    [InlineData("/customers/*", "/customers/1", true)]
    [InlineData("/customers/*", "/customers/1/orders", false)]
    [InlineData("/customers/**", "/customers/1/orders", true)]
    [InlineData("/customers/**", "/customers", true)]
    [InlineData("/customers/*/orders", "/customers/7/orders", true)]
    [InlineData("/customers/?", "/customers/12", false)]
    [InlineData("/a.b", "/aXb", false)]
    [InlineData("/**", "/anything/at/all", true)]
    [InlineData("/Admin/**", "/admin/x", true)]
    public void Matches_segments_as_documented(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, new PathGlob(pattern).IsMatch(path));
    }
}
