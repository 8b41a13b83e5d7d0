namespace Portcullis.Policy.Analysis.Shell;

/// <summary>One program the command line would run: its name as written, its base name, its arguments.</summary>
public sealed record ShellCommand(string Program, string Path, IReadOnlyList<string> Arguments, string? Via)
{
    /// <summary>Flags as given: "-rf", "--data", "--data=@file" (as "--data").</summary>
    public IEnumerable<string> Flags => Arguments.Where(a => a.StartsWith('-') && a.Length > 1)
        .Select(a => a.StartsWith("--", StringComparison.Ordinal) && a.Contains('=') ? a[..a.IndexOf('=')] : a);
}

/// <summary>
/// A file a command may open: an operand, an option's value or a redirection target, as written and as the
/// set of normalised paths it can stand for (a glob, a brace list or an unknown value is several).
/// </summary>
public sealed record ShellPath(string Program, string Written, IReadOnlyList<FilePathPattern> Patterns);

/// <summary>
/// Everything a command line runs, looked through wrappers (sh -c, eval, env, xargs, timeout, ...) and
/// substitutions, with what it reaches: the network, an interpreter fed through a pipe, inline code, another
/// program started by a flag, written files, an environment that changes what runs, and the files it names.
/// </summary>
public sealed class ShellAnalysis
{
    public required IReadOnlyList<ShellCommand> Commands { get; init; }
    public bool UsesNetwork { get; init; }
    public bool PipesIntoInterpreter { get; init; }
    public bool RunsInlineCode { get; init; }

    /// <summary>A program runs another the line does not name as a command (sort --compress-program, a pager's !, find -exec's
    /// kin, awk's system()); what can be read of it is in <see cref="Commands"/> too.</summary>
    public bool RunsProgram { get; init; }

    /// <summary>Output redirections (other than to /dev/null and the standard streams) and programs or flags that write files.</summary>
    public bool WritesFiles { get; init; }

    /// <summary>An assignment (prefix, plain, export, env VAR=) to a variable that changes what is loaded or looked up:
    /// LD_*, PATH, BASH_ENV, IFS, PAGER, GIT_*, ... (every all-capitals name but the locale and format ones).</summary>
    public bool OverridesEnvironment { get; init; }

    public IReadOnlyList<ShellPath> Paths { get; init; } = [];

    /// <summary>Why each property above was set, for the dry-run answer and the logs: "sort --compress-program=sh: runs_program".</summary>
    public IReadOnlyList<string> Findings { get; init; } = [];

    /// <summary>Why the line cannot be analysed with confidence; such a line is denied.</summary>
    public string? Unanalysable { get; init; }

    public IEnumerable<string> Programs => Commands.Select(c => c.Program).Distinct(StringComparer.Ordinal);
}
