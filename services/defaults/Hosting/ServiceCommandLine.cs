using System.CommandLine;
using System.CommandLine.Help;

namespace Portcullis.Defaults.Hosting;

/// <summary>
/// How a service's command line (System.CommandLine) answers, the same for every service: bad usage prints what is
/// wrong and the command's <c>--help</c> and exits with 2; an exception the service can explain prints its message and
/// exits with the code the service gives it (with the <c>--help</c> hint when it is a usage error); any other exception
/// is a defect and is thrown on.
/// </summary>
public static class ServiceCommandLine
{
    /// <summary>What a service makes of an exception its commands threw: its exit code and whether it was bad usage.</summary>
    public readonly record struct Failure(int ExitCode, string Message, bool Usage = false);

    public static async Task<int> InvokeAsync(RootCommand root, string program, string[] args, TextWriter stdout, TextWriter stderr,
        Func<Exception, Failure?> explain)
    {
        var parse = root.Parse(args);
        var help = $"See: {program} {parse.CommandResult.Command.Name} --help";
        if (parse.Errors.Count > 0 && parse.Action is not HelpAction)
        {
            foreach (var problem in parse.Errors) await stderr.WriteLineAsync(problem.Message);
            await stderr.WriteLineAsync(help);
            return 2;
        }
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (explain(ex) is { } failure)
        {
            await stderr.WriteLineAsync(failure.Message);
            if (failure.Usage) await stderr.WriteLineAsync(help);
            return failure.ExitCode;
        }
    }
}
