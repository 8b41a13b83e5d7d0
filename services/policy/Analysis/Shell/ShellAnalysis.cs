namespace Portcullis.Policy.Analysis.Shell;

/// <summary>One program the command line would run: its name as written, its base name, its arguments.</summary>
public sealed record ShellCommand(string Program, string Path, IReadOnlyList<string> Arguments, string? Via)
{
    /// <summary>Flags as given: "-rf", "--data", "--data=@file" (as "--data").</summary>
    public IEnumerable<string> Flags => Arguments.Where(a => a.StartsWith('-') && a.Length > 1)
        .Select(a => a.StartsWith("--", StringComparison.Ordinal) && a.Contains('=') ? a[..a.IndexOf('=')] : a);
}

/// <summary>
/// Everything a command line runs, looked through wrappers (sh -c, eval, env, xargs, timeout, ...) and
/// substitutions, with what it reaches: the network, an interpreter fed through a pipe, inline code.
/// </summary>
public sealed class ShellAnalysis
{
    public required IReadOnlyList<ShellCommand> Commands { get; init; }
    public bool UsesNetwork { get; init; }
    public bool PipesIntoInterpreter { get; init; }
    public bool RunsInlineCode { get; init; }

    /// <summary>Why the line cannot be analysed with confidence; such a line is denied.</summary>
    public string? Unanalysable { get; init; }

    public IEnumerable<string> Programs => Commands.Select(c => c.Program).Distinct(StringComparer.Ordinal);
}
