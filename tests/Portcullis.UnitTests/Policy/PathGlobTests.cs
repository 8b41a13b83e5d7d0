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

    // What a deny or approval rule names, it names with a format suffix on the last segment (Rails, Spring's suffix
    // pattern match and content negotiation serve "/x.json" as "/x").
    [Theory]
    [InlineData("/customers/export", "/customers/export.json")]
    [InlineData("/customers/export", "/customers/export.csv")]
    [InlineData("/customers/export", "/customers/export.tar.gz")]
    [InlineData("/customers/export", "/Customers/Export.JSON")]
    [InlineData("/customers/export", "/customers/export%2Ejson")]
    [InlineData("/customers/export", "/customers/export.")]
    [InlineData("/admin/**", "/admin.json")]
    [InlineData("/customers/?", "/customers/1.xml")]
    [InlineData("/customers/*/orders", "/customers/7/orders.json")]
    [InlineData("/files/*.pdf", "/files/report.pdf.json")]
    public void A_restricting_pattern_covers_its_path_with_a_format_suffix(string pattern, string path)
    {
        Assert.True(new PathGlob(pattern, andBeneath: true).IsMatch(path));
        Assert.False(new PathGlob(pattern).IsMatch(path));
    }

    // "deny /admin" means "deny /admin/**": what lies beneath a path a rule restricts is restricted too.
    [Theory]
    [InlineData("/customers/export", "/customers/export/x")]
    [InlineData("/customers/export", "/customers/export/2024/all.csv")]
    [InlineData("/customers/export", "/customers/export.json/x")]
    [InlineData("/admin", "/admin/config")]
    [InlineData("/admin/", "/admin/config")]
    [InlineData("/customers/*", "/customers/1/orders")]
    [InlineData("/customers/?", "/customers/1/orders")]
    [InlineData("/", "/anything/at/all")]
    public void A_restricting_pattern_covers_every_path_beneath_it(string pattern, string path)
    {
        Assert.True(new PathGlob(pattern, andBeneath: true).IsMatch(path));
        Assert.False(new PathGlob(pattern).IsMatch(path));
    }

    // Path parameters, which servlet containers drop, and a trailing slash (the gateway refuses the first and removes
    // the second; the rule holds whoever sends the action).
    [Theory]
    [InlineData("/customers/export", "/customers/export;jsessionid=1")]
    [InlineData("/customers/export", "/customers/export/")]
    [InlineData("/admin/", "/admin")]
    public void A_restricting_pattern_covers_path_parameters_and_a_trailing_slash(string pattern, string path)
    {
        Assert.True(new PathGlob(pattern, andBeneath: true).IsMatch(path));
    }

    // Only a suffix, parameters or a further segment extend the path: another name that starts the same is another path.
    [Theory]
    [InlineData("/admin", "/administrators")]
    [InlineData("/admin/**", "/administrators")]
    [InlineData("/admin", "/admin-console")]
    [InlineData("/customers/export", "/customers/exports")]
    [InlineData("/customers/export", "/customers/export_all")]
    [InlineData("/customers/export", "/customers")]
    [InlineData("/customers/export", "/other/customers/export")]
    [InlineData("/customers/?", "/customers/12")]
    [InlineData("/files/*.pdf", "/files/report.json")]
    public void A_restricting_pattern_does_not_cover_paths_that_only_start_alike(string pattern, string path)
    {
        Assert.False(new PathGlob(pattern, andBeneath: true).IsMatch(path));
    }
}
