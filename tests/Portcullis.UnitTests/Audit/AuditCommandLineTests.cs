using Portcullis.Audit;

namespace Portcullis.UnitTests.Audit;

/// <summary>The audit's command line as an operator meets it: help, exit codes, and errors that say what to do.</summary>
public sealed class AuditCommandLineTests
{
    private static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = await AuditCommands.InvokeAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Help_lists_every_command()
    {
        var (code, output, _) = await Run("--help");
        Assert.Equal(0, code);
        foreach (var command in new[] { "verify <session>", "rebuild", "archive", "export" }) Assert.Contains(command, output);
    }

    [Theory]
    [InlineData("verify", "--session")]
    [InlineData("rebuild", "--projection")]
    [InlineData("archive", "--before")]
    [InlineData("export", "--from")]
    public async Task Each_command_has_help_with_its_options(string command, string option)
    {
        var (code, output, _) = await Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains(option == "--session" ? "<session>" : option, output);
        Assert.Contains("--connection", output);
    }

    [Fact]
    public async Task A_missing_argument_is_bad_usage_with_a_pointer_to_help()
    {
        var (code, _, error) = await Run("export");
        Assert.Equal(2, code);
        Assert.Contains("'--from' is required", error);
        Assert.Contains("Portcullis.Audit export --help", error);
    }

    [Fact]
    public async Task An_unknown_projection_names_the_ones_there_are()
    {
        var (code, _, error) = await Run("rebuild", "--projection", "nothing");
        Assert.Equal(2, code);
        Assert.Contains("SessionTimelineProjection", error);
    }

    [Fact]
    public async Task Without_a_store_the_command_says_how_to_name_one()
    {
        var saved = Environment.GetEnvironmentVariable("ConnectionStrings__Postgres");
        Environment.SetEnvironmentVariable("ConnectionStrings__Postgres", null);
        try
        {
            var (code, _, error) = await Run("archive", "--before", "2026-01-01T00:00:00Z");
            Assert.Equal(2, code);
            Assert.Contains("ConnectionStrings__Postgres", error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("ConnectionStrings__Postgres", saved);
        }
    }

    [Theory]
    [InlineData("verify", true)]
    [InlineData("--help", true)]
    [InlineData("--urls", false)]
    [InlineData("serve", false)]
    public void Only_commands_and_help_leave_the_service_unstarted(string first, bool isCommand) =>
        Assert.Equal(isCommand, AuditCommands.IsCommand([first, "x"]));
}
