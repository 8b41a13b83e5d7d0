using System.Globalization;

namespace Portcullis.Policy.Analysis.Shell;

/// <summary>
/// Finds every program a command line would run under sh (dash) or bash, judged for the more permissive of
/// the two. Spelling does not hide a program (quotes, escapes, $'\x..', paths), wrappers are looked through
/// recursively, substitutions are read wherever they stand, flags that start programs, write files or reach
/// the network are known per program (program-capabilities.txt), and file operands are resolved to the paths
/// they can stand for. Anything whose effect depends on values only known at run time (a variable or
/// substitution as the program, arithmetic over variables, a control character, case) makes the line
/// unanalysable, which the policy denies.
/// </summary>
public sealed class ShellCommandAnalyzer
{
    private const int MaxDepth = 8;

    private static readonly ProgramCapabilities Capabilities = ProgramCapabilities.Default;

    private static readonly HashSet<string> Shells = new(StringComparer.Ordinal)
        { "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "ash", "fish", "csh", "tcsh", "busybox-sh", "rbash", "yash", "posh", "elvish", "rc", "sash" };

    private static readonly HashSet<string> Interpreters = new(StringComparer.Ordinal)
    {
        "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "luajit", "tclsh", "wish", "pwsh", "powershell",
        "jshell", "irb", "Rscript", "R", "osascript", "expect", "deno", "bun", "julia", "guile", "clisp", "sbcl", "ghci", "runghc", "scala",
        "groovy", "jrunscript", "jjs", "pypy", "pypy3", "gdb", "octave", "php-cgi", "busybox-awk",
    };

    private static readonly string[] AwkLongOptions =
    [
        "assign", "field-separator", "file", "exec", "include", "load", "source", "dump-variables", "debug", "profile", "pretty-print", "lint",
        "characters-as-bytes", "traditional", "copyright", "gen-pot", "help", "bignum", "use-lc-numeric", "non-decimal-data", "optimize",
        "no-optimize", "posix", "re-interval", "sandbox", "lint-old", "version", "csv", "trace",
    ];

    private static readonly HashSet<string> AwkHarmlessLongOptions = new(StringComparer.Ordinal)
    {
        "characters-as-bytes", "traditional", "copyright", "help", "bignum", "use-lc-numeric", "non-decimal-data", "optimize", "no-optimize",
        "posix", "re-interval", "sandbox", "lint-old", "version", "csv", "lint",
    };

    private static readonly CommandOptions MapfileOptions = new(ShortWithValue: "dnOsuCc", ShortFlags: "t");

    private static readonly HashSet<string> AwkFamily = new(StringComparer.Ordinal) { "awk", "gawk", "mawk", "nawk", "busybox-awk", "original-awk" };

    private static readonly Dictionary<string, string[]> InlineCodeFlags = new(StringComparer.Ordinal)
    {
        ["python"] = ["-c"], ["perl"] = ["-e", "-E"], ["ruby"] = ["-e"], ["node"] = ["-e", "--eval", "-p", "--print"],
        ["php"] = ["-r"], ["lua"] = ["-e"], ["pwsh"] = ["-c", "-Command", "-EncodedCommand"], ["deno"] = ["eval"],
        ["bun"] = ["-e", "--eval"], ["Rscript"] = ["-e"], ["tclsh"] = [], ["julia"] = ["-e"], ["guile"] = ["-c"], ["gdb"] = ["-ex", "-x", "--eval-command"],
    };

    // Single-letter options that take inline code, and those whose value is the rest of the word (so letters after
    // them are not options): perl -ne 'code', python3 -Ic 'code', but perl -Ilib and python3 -Wdefault are not code.
    // perl's -M and -m take "Module;code", so they count as code.
    private static readonly Dictionary<string, (string Code, string Valued)> InlineCodeLetters = new(StringComparer.Ordinal)
    {
        ["python"] = ("c", "WXQm"), ["pypy"] = ("c", "WXQm"), ["perl"] = ("eEMm", "iFCdDxI"), ["ruby"] = ("e", "IrECFKxTW0"),
        ["node"] = ("ep", "r"), ["nodejs"] = ("ep", "r"), ["bun"] = ("e", "r"), ["php"] = ("rBRE", "cdfzt"), ["lua"] = ("e", "l"),
        ["luajit"] = ("e", "lbjO"), ["julia"] = ("eE", "LJCOgp"), ["Rscript"] = ("e", ""), ["guile"] = ("c", "lsLx"),
    };

    private static readonly HashSet<string> ReservedWords = new(StringComparer.Ordinal)
        { "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "in", "esac" };

    private static readonly HashSet<string> CompoundCommandStarts = new(StringComparer.Ordinal)
        { "{", "if", "while", "until", "for", "case", "select", "[[", ":" /* (( )) as the lexer leaves it */ };

    // Programs whose operands are never file names: their operands are not matched against path rules.
    private static readonly HashSet<string> NoFileOperands = new(StringComparer.Ordinal)
    {
        "echo", "printf", "true", "false", ":", "sleep", "whoami", "id", "uptime", "uname", "seq", "yes", "expr", "kill", "basename",
        "dirname", "test", "[", "[[", "]]", "let", "export", "declare", "typeset", "local", "readonly", "unset", "alias", "unalias", "set",
        "shopt", "exit", "return", "break", "continue", "shift", "wait", "umask", "ulimit", "type", "read", "getopts", "printenv",
        "hostname", "free", "nproc", "pgrep", "pidof", "ps", "cd", "pushd", "popd", "dirs", "jobs", "fg", "bg", "times", "trap",
    };

    // Builtins that take variable names: bash expands an array subscript in them (unset 'a[$(id)]' runs id).
    private static readonly HashSet<string> VariableNameBuiltins = new(StringComparer.Ordinal)
    {
        "unset", "read", "mapfile", "readarray", "getopts", "wait",
    };

    // Builtins that run text the line does not show as a command, or change how later words are read.
    private static readonly Dictionary<string, string> Refused = new(StringComparer.Ordinal)
    {
        ["enable"] = "enable can load a builtin from a shared object",
        ["fc"] = "fc runs commands from the history",
        ["bind"] = "bind can run commands on key presses",
        ["complete"] = "complete can run commands",
        ["compgen"] = "compgen can run commands",
        ["shopt"] = "shopt changes how later words are expanded",
        ["caller"] = "caller is not analysed",
        ["select"] = "select runs its body with input from stdin",
    };

    // Variables a program may read and that are not about loading, lookup or running: locale and output format.
    private static readonly HashSet<string> HarmlessVariables = new(StringComparer.Ordinal)
    {
        "LANG", "LANGUAGE", "TZ", "COLUMNS", "LINES", "TERM", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TIME_STYLE",
        "QUOTING_STYLE", "BLOCK_SIZE", "BLOCKSIZE", "DF_BLOCK_SIZE", "DU_BLOCK_SIZE", "LS_BLOCK_SIZE", "LS_COLORS", "GREP_COLOR",
        "GREP_COLORS", "POSIXLY_CORRECT", "SYSTEMD_COLORS", "SYSTEMD_URLIFY", "OPTIND", "OPTERR", "REPLY",
    };

    private static readonly FilePathPattern[] NetworkDevices = [.. FilePathPattern.OfRule("/dev/tcp/**"), .. FilePathPattern.OfRule("/dev/udp/**")];
    private static readonly HashSet<string> HarmlessTargets = new(StringComparer.Ordinal) { "/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty" };

    public ShellAnalysis Analyze(string commandLine)
    {
        var state = new State();
        try
        {
            CheckCharacters(commandLine);
            AnalyzeLine(commandLine, state, via: null, depth: 0);
        }
        catch (ShellSyntaxException ex)
        {
            state.Unanalysable ??= ex.Message;
        }
        return new ShellAnalysis
        {
            Commands = state.Commands,
            UsesNetwork = state.Network,
            PipesIntoInterpreter = state.PipeIntoInterpreter,
            RunsInlineCode = state.InlineCode,
            RunsProgram = state.RunsProgram,
            WritesFiles = state.WritesFiles,
            OverridesEnvironment = state.EnvironmentOverride,
            Paths = state.Paths,
            Findings = state.Findings,
            Unanalysable = state.Unanalysable,
        };
    }

    /// <summary>
    /// Control characters other than tab and newline (a carriage return that one reader takes for a line end
    /// and another for a word character, escape sequences that redraw a terminal) and Unicode format characters
    /// (bidirectional overrides, zero-width characters) make the text read differently by people and programs.
    /// </summary>
    private static void CheckCharacters(string line)
    {
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (c is '\t' or '\n') continue;
            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < line.Length && char.IsLowSurrogate(line[i + 1]))
                {
                    var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, line[i + 1]));
                    if (category is UnicodeCategory.Format or UnicodeCategory.PrivateUse)
                        throw new ShellSyntaxException($"the command holds the invisible character U+{char.ConvertToUtf32(c, line[i + 1]):X5}");
                    i++;
                    continue;
                }
                throw new ShellSyntaxException("the command holds a broken UTF-16 surrogate");
            }
            var kind = char.GetUnicodeCategory(c);
            if (kind is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned)
                throw new ShellSyntaxException($"the command holds the control or format character U+{(int)c:X4}; only tab and newline are accepted");
        }
    }

    private void AnalyzeLine(string line, State state, string? via, int depth)
    {
        if (depth > MaxDepth) throw new ShellSyntaxException($"commands nested more than {MaxDepth} deep");
        var tokens = ShellLexer.Tokenize(line);

        // Split into pipelines (separated by ; & && || newline) and their stages (separated by | |&).
        var pipeline = new List<List<ShellToken>> { new() };
        foreach (var token in tokens)
        {
            if (token.Kind == ShellTokenKind.Operator && token.Value is "|" or "|&")
            {
                pipeline.Add([]);
            }
            else if (token.Kind == ShellTokenKind.Operator && token.Value is ";" or "&" or "&&" or "||" or "\n" or ";;" or ";&" or ";;&")
            {
                AnalyzePipeline(pipeline, state, via, depth);
                pipeline = [[]];
            }
            else if (token.Kind == ShellTokenKind.Operator && token.Value is "(" or ")")
            {
                // Subshells and groups: their commands run all the same; a function definition's "()" is empty.
                AnalyzePipeline(pipeline, state, via, depth);
                pipeline = [[]];
            }
            else
            {
                pipeline[^1].Add(token);
            }
        }
        AnalyzePipeline(pipeline, state, via, depth);
    }

    private void AnalyzePipeline(List<List<ShellToken>> stages, State state, string? via, int depth)
    {
        for (var index = 0; index < stages.Count; index++)
        {
            var fedByPipe = index > 0;
            AnalyzeSimpleCommand(stages[index], state, via, depth, fedByPipe);
        }
    }

    private void AnalyzeSimpleCommand(List<ShellToken> tokens, State state, string? via, int depth, bool fedByPipe)
    {
        if (tokens.Count == 0) return;

        // Every substitution runs, wherever it stands: in arguments, assignments, redirection targets, here-documents.
        foreach (var substitution in tokens.SelectMany(t => t.Substitutions))
            AnalyzeLine(substitution, state, via is null ? "$(...)" : via + " > $(...)", depth + 1);

        var words = new List<ShellToken>();
        var stdinRedirected = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token.Kind == ShellTokenKind.Redirection)
            {
                var target = i + 1 < tokens.Count && tokens[i + 1].Kind == ShellTokenKind.Word
                    ? tokens[i + 1] : throw new ShellSyntaxException($"'{token.Value}' has no target");
                Redirect(token.Value, target, state, via);
                if (token.Value is "<" or "<<<" or "<>" or "<<" or "<<-") stdinRedirected = true;
                i++;
                continue;
            }
            words.Add(token);
        }

        // Leading assignments (NAME=value), reserved words and function headers are not the program.
        var start = 0;
        while (start < words.Count)
        {
            var word = words[start];
            if (IsAssignmentWord(word)) { Assign(word.Value, state, "assignment"); start++; continue; }
            if (!word.Quoted && word.Value == "time")
            {
                // bash's time keyword takes -p and --: they are not the program.
                start++;
                while (start < words.Count && words[start] is { Quoted: false, Value: "-p" or "--" }) start++;
                continue;
            }
            if (!word.Quoted && word.Value == "coproc")
            {
                // coproc NAME compound-command: NAME names the coprocess; the compound command is what runs.
                start++;
                if (start + 1 < words.Count && !words[start].HasExpansion && words[start + 1] is { Quoted: false } next && CompoundCommandStarts.Contains(next.Value))
                    start++;
                continue;
            }
            if (!word.Quoted && ReservedWords.Contains(word.Value)) { start++; continue; }
            if (!word.Quoted && word.Value == "function") { start += 2; continue; } // function name { ... }
            break;
        }
        if (start >= words.Count) return;

        var first = words[start].Value;
        if (!words[start].Quoted && first is "for") return; // a loop header: its words are data
        if (!words[start].Quoted && first == "case")
            throw new ShellSyntaxException("case statements are not analysed");
        // name() { ...: the "()" split it off; a lone word followed by nothing is a function name or a command.

        RunCommand(words.Skip(start).ToList(), state, via, depth, fedByPipe && !stdinRedirected, stdinRedirected);
    }

    private static void Redirect(string operation, ShellToken target, State state, string? via)
    {
        if (operation is "<<" or "<<-" or "<<<") return; // the body or the word is the input, not a file
        if (operation is ">&" or "<&" && (target.Value == "-" || target.Value.All(char.IsAsciiDigit)) && !target.HasExpansion) return;
        var patterns = FilePathPattern.OfWord(target.Pattern, state.WorkingDirectories);
        if (patterns.Any(p => NetworkDevices.Any(p.Intersects)))
        {
            state.Network = true;
            state.Findings.Add($"redirection {operation} {target.Value}: network");
        }
        var writes = operation is not ("<" or "<&");
        if (writes && !(HarmlessTargets.Contains(target.Value) && !target.HasExpansion) && !IsFileDescriptorDevice(target))
        {
            state.WritesFiles = true;
            state.Findings.Add($"redirection {operation} {target.Value}: writes_files");
        }
        state.Paths.Add(new ShellPath(via ?? "(redirection)", target.Value, patterns));
    }

    private static bool IsFileDescriptorDevice(ShellToken target) =>
        !target.HasExpansion && target.Value.StartsWith("/dev/fd/", StringComparison.Ordinal) && target.Value[8..].All(char.IsAsciiDigit) && target.Value.Length > 8;

    private void RunCommand(List<ShellToken> argv, State state, string? via, int depth, bool fedByPipe, bool stdinRedirected)
    {
        while (true)
        {
            if (argv.Count == 0) return;
            var programWord = argv[0];
            // "[" and "[[" hold no glob (a class needs its "]"); anything else with an expansion is only known at run time.
            var testWord = programWord is { Value: "[" or "[[", Substitutions.Count: 0 };
            if (programWord.HasExpansion && !testWord || programWord.Value.Length == 0)
                throw new ShellSyntaxException("the program to run is only known at run time (a variable, substitution, glob or brace)");
            var path = programWord.Value;
            var program = Path.GetFileName(path.TrimEnd('/'));
            if (program.Length == 0) throw new ShellSyntaxException($"'{path}' is not a program");
            var args = argv.Skip(1).ToList();
            state.Commands.Add(new ShellCommand(program, path, args.Select(a => a.Value).ToList(), via));
            var here = via is null ? program : $"{via} > {program}";
            var firstPath = state.Paths.Count;
            RecordPaths(program, args, state);
            ApplyCapabilities(program, args, state, here, depth, firstPath);

            if (Refused.TryGetValue(program, out var refusal)) throw new ShellSyntaxException(refusal);

            if (Shells.Contains(program) || program == "busybox" && args.FirstOrDefault()?.Value is "sh" or "ash" or "bash")
            {
                if (program == "busybox") args = args.Skip(1).ToList();
                var inline = ShellInlineCommand(args);
                if (inline is not null)
                {
                    if (inline.HasExpansion) throw new ShellSyntaxException($"{program} -c runs a command only known at run time");
                    AnalyzeLine(inline.Value, state, here, depth + 1);
                }
                else if (args.Any(IsCodeStream))
                {
                    Found(state, ref state.PipeIntoInterpreter, $"{here} reads its commands from a stream another command writes");
                }
                else if (!args.Any(a => !a.Value.StartsWith('-') && !a.Value.StartsWith('+')) || args.Any(a => a.Value is "-s" or "-" or "/dev/stdin"))
                {
                    // A shell reading its commands from stdin: what it runs came through the pipe or redirection.
                    if (fedByPipe || stdinRedirected) state.PipeIntoInterpreter = true;
                    else Found(state, ref state.RunsProgram, $"{here} reads commands from its input");
                }
                else
                {
                    Found(state, ref state.InlineCode, $"{here} runs a script file the line does not show");
                }
                return;
            }

            if (program is "sed" or "gsed")
            {
                Sed(args, state, here);
                return;
            }

            if (AwkFamily.Contains(program))
            {
                Awk(program, args, state, here, fedByPipe || stdinRedirected);
                return;
            }

            if (Interpreters.Contains(program) || Interpreters.Contains(BaseInterpreter(program)))
            {
                var name = Interpreters.Contains(program) ? program : BaseInterpreter(program);
                if (RunsInlineCode(BaseInterpreter(name), args))
                    Found(state, ref state.InlineCode, $"{here} runs inline code");
                var readsStdin = !args.Any(a => !a.Value.StartsWith('-')) || args.Any(a => a.Value is "-" or "/dev/stdin");
                if (readsStdin && (fedByPipe || stdinRedirected)) state.PipeIntoInterpreter = true;
                if (args.Any(IsCodeStream)) Found(state, ref state.PipeIntoInterpreter, $"{here} reads its code from a stream another command writes");
                return;
            }

            switch (program)
            {
                case "eval":
                    if (args.Any(a => a.HasExpansion)) throw new ShellSyntaxException("eval runs a command only known at run time");
                    AnalyzeLine(string.Join(' ', args.Select(a => a.Value)), state, here, depth + 1);
                    return;
                case "trap":
                    // trap 'command' SIGNAL: the command runs later, as eval would run it.
                    var action = args.FirstOrDefault(a => !a.Value.StartsWith('-'));
                    if (action is null || args.Count < 2) return;
                    if (action.HasExpansion) throw new ShellSyntaxException("trap runs a command only known at run time");
                    if (action.Value is "" or "-") return;
                    AnalyzeLine(action.Value, state, here, depth + 1);
                    return;
                case "alias":
                    // dash expands aliases in scripts: alias ls=curl makes a later ls run curl.
                    foreach (var definition in args.Where(a => a.Value.Contains('=')))
                    {
                        if (definition.HasExpansion) throw new ShellSyntaxException("an alias only known at run time");
                        AnalyzeLine(definition.Value[(definition.Value.IndexOf('=') + 1)..], state, here, depth + 1);
                    }
                    return;
                case "hash":
                    if (args.Any(a => a.Value.StartsWith('-') && a.Value.Contains('p'))) throw new ShellSyntaxException("hash -p makes a name run another program");
                    return;
                case "let":
                    throw new ShellSyntaxException("let evaluates arithmetic, and arithmetic over variables can run commands in bash");
                case "[[" or "test" or "[":
                    CheckConditional(args);
                    return;
                case "export" or "declare" or "typeset" or "local" or "readonly":
                    Declare(program, args, state);
                    return;
                case "cd" or "pushd" or "popd":
                    ChangeDirectory(program, args, state);
                    return;
                case "busybox" or "toybox":
                    argv = args;
                    continue;
                case "env":
                {
                    var options = CommandOptions.Wrappers[program].Parse(program, args);
                    if (options.Has("S", "split-string")) throw new ShellSyntaxException("env -S splits a command only known at run time");
                    RunsIn(options.Values("C", "chdir"), state);
                    var rest = options.Operands.SkipWhile(a => a.Value == "-").ToList(); // "env -" is env -i
                    foreach (var assignment in rest.TakeWhile(a => IsAssignment(a.Value))) Assign(assignment.Value, state, "env");
                    argv = rest.SkipWhile(a => IsAssignment(a.Value)).ToList();
                    continue;
                }
                case "timeout":
                    argv = CommandOptions.Wrappers[program].Parse(program, args).Operands.Skip(1).ToList(); // the duration, then the command
                    continue;
                case "ionice":
                {
                    var options = CommandOptions.Wrappers[program].Parse(program, args);
                    if (options.Has("p", "P", "u", "pid", "pgid", "uid")) return; // changes running processes, starts none
                    argv = options.Operands;
                    continue;
                }
                case "sudo" or "doas":
                {
                    var options = CommandOptions.Wrappers[program].Parse(program, args);
                    var rest = options.Operands;
                    foreach (var assignment in rest.TakeWhile(a => IsAssignment(a.Value))) Assign(assignment.Value, state, program);
                    rest = rest.SkipWhile(a => IsAssignment(a.Value)).ToList();
                    if (program == "sudo" && options.Has("e", "edit"))
                        Found(state, ref state.RunsProgram, $"{here} -e edits files with an editor");
                    if (options.Has("s", "i", "shell", "login") && rest.Count == 0)
                        Found(state, ref state.RunsProgram, $"{here} starts a shell");
                    RunsIn(options.Values("D", "chdir"), state);
                    argv = rest;
                    continue;
                }
                case "su" or "runuser":
                {
                    var options = CommandOptions.Wrappers[program].Parse(program, args);
                    var operands = options.Operands.Where(a => a.Value != "-").ToList(); // "su -" is su --login
                    var line = options.Values("c", "command", "session-command").LastOrDefault();
                    if (line is not null)
                        argv = [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-c"), line];
                    else if (program == "runuser" && options.Has("u", "user"))
                        argv = operands;
                    else // su [user [argument...]]: the arguments go to the user's shell, which reads stdin when there are none
                        argv = [new ShellToken(ShellTokenKind.Word, "sh"), .. operands.Skip(1)];
                    continue;
                }
                case "flock":
                {
                    // flock [options] file command [args], or flock [options] file -c command: -c is read only there.
                    var operands = CommandOptions.Wrappers[program].Parse(program, args).Operands;
                    argv = operands.Count >= 3 && operands[1] is { Value: "-c" or "--command", HasExpansion: false }
                        ? [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-c"), operands[2]]
                        : operands.Skip(1).ToList();
                    continue;
                }
                case "watch":
                {
                    var watched = CommandOptions.Wrappers[program].Parse(program, args).Operands;
                    if (watched.Count == 0) return;
                    argv = [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-c"),
                        new ShellToken(ShellTokenKind.Word, string.Join(' ', watched.Select(w => w.Value)), watched.Any(w => w.HasExpansion))];
                    continue;
                }
                case "command":
                {
                    var options = CommandOptions.Wrappers[program].Parse(program, args);
                    if (options.Has("v", "V")) return; // looks up, runs nothing
                    argv = options.Operands;
                    continue;
                }
                case "nice" or "stdbuf" or "exec" or "setsid" or "nohup" or "time":
                    argv = CommandOptions.Wrappers[program].Parse(program, args).Operands;
                    continue;
                case "builtin":
                    argv = args.SkipWhile(a => a.Value == "--").ToList();
                    continue;
                case "chroot":
                    argv = SkipOptions(args, withValue: ["--userspec", "--groups"]) is var rooted && rooted.Count > 1
                        ? rooted.Skip(1).ToList()
                        : [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-i")];
                    continue;
                case "unbuffer" or "chrt" or "taskset" or "strace" or "ltrace" or "script":
                    argv = LookThrough(program, args);
                    continue;
                case "xargs":
                    argv = CommandOptions.Wrappers[program].Parse(program, args).Operands;
                    if (argv.Count == 0) argv = [new ShellToken(ShellTokenKind.Word, "echo")];
                    // The arguments come from the input: any file at all.
                    argv = [.. argv, new ShellToken(ShellTokenKind.Word, "", HasExpansion: true) { Pattern = "**" }];
                    continue;
                case "find":
                    FindExec(args, state, here, depth);
                    return;
                case "source" or ".":
                    Found(state, ref state.InlineCode, $"{here} runs a script file the line does not show");
                    return;
                case "set":
                    SetOptions(args);
                    return;
                case "mapfile" or "readarray":
                {
                    // -C runs its callback as a command line every -c lines.
                    var options = MapfileOptions.Parse(program, args);
                    foreach (var callback in options.Values("C"))
                    {
                        if (callback is null || callback.HasExpansion) throw new ShellSyntaxException($"{program} -C runs a callback only known at run time");
                        AnalyzeLine(callback.Value, state, here, depth + 1);
                    }
                    CheckVariableNames(program, options.Operands);
                    return;
                }
                case "printf":
                    // printf -v NAME: bash expands a subscript in NAME.
                    for (var v = 0; v + 1 < args.Count; v++)
                        if (args[v].Value == "-v") CheckVariableName(program, args[v + 1].Value);
                    return;
                default:
                    if (VariableNameBuiltins.Contains(program)) CheckVariableNames(program, args);
                    return;
            }
        }
    }

    /// <summary>
    /// set -k makes every NAME=value argument (not only leading ones) part of the command's environment, so
    /// "cat LD_PRELOAD=/tmp/x.so" loads a library; -H with -o history turns "!..." into earlier command text.
    /// Options only known at run time could be either.
    /// </summary>
    private static void SetOptions(List<ShellToken> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var word = args[i];
            if (word.Value is "--" or "-") return;
            if (word.HasExpansion && !word.Quoted) throw new ShellSyntaxException("set is given options only known at run time");
            if (!(word.Value.StartsWith('-') || word.Value.StartsWith('+')) || word.Value.Length < 2) return;
            if (word.Value[0] == '-' && word.Value.AsSpan(1).IndexOfAny("kH") >= 0)
                throw new ShellSyntaxException($"set {word.Value} changes how later words are read (keyword assignments or history expansion)");
            if (word.Value.AsSpan(1).Contains('o') && i + 1 < args.Count)
            {
                var name = args[++i].Value;
                if (word.Value[0] == '-' && name is "keyword" or "history" or "histexpand")
                    throw new ShellSyntaxException($"set -o {name} changes how later words are read (keyword assignments or history expansion)");
            }
        }
    }

    private static void Found(State state, ref bool property, string finding)
    {
        property = true;
        state.Findings.Add(finding);
    }

    /// <summary>The table's capabilities of one command; a flag's command line or program is analysed as well.</summary>
    private void ApplyCapabilities(string program, List<ShellToken> args, State state, string here, int depth, int firstPath)
    {
        foreach (var match in Capabilities.Of(program, args))
        {
            var finding = $"{here} {match.Evidence}".TrimEnd();
            switch (match.Capability)
            {
                case ProgramCapability.RunsProgram: Found(state, ref state.RunsProgram, finding + ": runs_program"); break;
                case ProgramCapability.WritesFiles: Found(state, ref state.WritesFiles, finding + ": writes_files"); break;
                case ProgramCapability.Network: Found(state, ref state.Network, finding + ": network"); break;
                case ProgramCapability.ReadsListedFiles:
                    // The files read are named in a file or on stdin ("-"): which ones is only known at run time.
                    state.Paths.Add(new ShellPath(program, match.Evidence, FilePathPattern.OfWord("/**", state.WorkingDirectories)));
                    state.Findings.Add(finding + ": reads files named at run time");
                    break;
                case ProgramCapability.ReadsProcessEnvironment:
                    // What it prints is what /proc/<pid>/environ holds: judged as reading that file.
                    state.Paths.Add(new ShellPath(program, match.Evidence, FilePathPattern.OfWord("/proc/*/environ", state.WorkingDirectories)));
                    state.Findings.Add(finding + ": reads other processes' environment");
                    break;
                case ProgramCapability.ReadsRecursively:
                    foreach (var path in state.Paths.Skip(firstPath).ToList())
                        state.Paths.Add(path with { Patterns = [.. path.Patterns.SelectMany(p => FilePathPattern.OfWord(WithinDirectory(p.Text), state.WorkingDirectories))] });
                    break;
            }
            if (match.Command is { } value)
            {
                if (value.HasExpansion || value.Value.Length == 0)
                    throw new ShellSyntaxException($"{here} {match.Evidence} runs a program only known at run time");
                if (match.CommandIsLine) AnalyzeLine(value.Value, state, here, depth + 1);
                else RunCommand([value with { Kind = ShellTokenKind.Word }], state, here, depth + 1, fedByPipe: true, stdinRedirected: false);
            }
        }
    }

    private static string WithinDirectory(string pattern) => pattern.EndsWith('/') ? pattern + "**" : pattern + "/**";

    /// <summary>The files a command names: operands, option values that hold a path, 'key=/path' and 'user@host:/path' parts.</summary>
    private static void RecordPaths(string program, List<ShellToken> args, State state)
    {
        if (NoFileOperands.Contains(program)) return;
        foreach (var arg in args)
        {
            foreach (var candidate in PathCandidates(arg))
                state.Paths.Add(new ShellPath(program, arg.Value, FilePathPattern.OfWord(candidate, state.WorkingDirectories)));
        }
    }

    private static IEnumerable<string> PathCandidates(ShellToken arg)
    {
        var pattern = arg.Pattern;
        if (pattern.Length == 0) yield break;
        var isOption = pattern.StartsWith('-') && pattern.Length > 1;
        if (!isOption && !IsAssignment(arg.Value)) yield return pattern;
        // A path inside the word: --file=/x, -f/x, if=/x, @/x, host:/x, and anything built at run time.
        for (var i = 1; i < pattern.Length; i++)
        {
            if (pattern[i - 1] == '\\') continue;
            if (pattern[i - 1] is '=' or '@' or ':' or ',' && (pattern[i] is '/' or '~' || pattern.AsSpan(i).StartsWith("**")))
                yield return pattern[i..];
        }
        if (isOption && pattern.IndexOf('/') is var slash && slash > 0 && pattern[slash - 1] is not ('=' or '@' or ':' or ','))
            yield return pattern[slash..];
        if (pattern.Contains("**", StringComparison.Ordinal) && (isOption || IsAssignment(arg.Value))) yield return "**";
    }

    private static void ChangeDirectory(string program, List<ShellToken> args, State state)
    {
        var operands = args.Where(a => !a.Value.StartsWith('-') || a.Value == "-").ToList();
        if (program == "cd" && operands.Count == 1 && !operands[0].HasExpansion && operands[0].Value != "-")
        {
            foreach (var pattern in FilePathPattern.OfWord(operands[0].Pattern, state.WorkingDirectories))
                state.WorkingDirectories.Add(pattern.Text);
        }
        else if (program == "cd" && operands.Count == 0) state.WorkingDirectories.Add(FilePathPattern.Home);
        else state.WorkingDirectories.Add("/**"); // cd -, pushd, popd, a directory only known at run time
    }

    private static void Declare(string program, List<ShellToken> args, State state)
    {
        foreach (var arg in args)
        {
            if (arg.Value.StartsWith('-') || arg.Value.StartsWith('+'))
            {
                // -i makes later assignments arithmetic; -n makes a name refer to another (and its subscripts expand).
                if (arg.Value.Length > 1 && arg.Value.AsSpan(1).IndexOfAny("inf") >= 0 && program != "export" ||
                    program == "export" && arg.Value.Contains('f'))
                    throw new ShellSyntaxException($"{program} {arg.Value} is not analysed (arithmetic, name references or functions)");
                continue;
            }
            if (arg.Value.Contains('=')) Assign(arg.Value, state, program);
            else CheckVariableName(program, arg.Value);
        }
    }

    /// <summary>An assignment to a variable that changes what runs or what is loaded is the env_override property.</summary>
    private static void Assign(string assignment, State state, string how)
    {
        var equals = assignment.IndexOf('=');
        var name = equals < 0 ? assignment : assignment[..equals];
        if (name.EndsWith('+')) name = name[..^1];
        var bracket = name.IndexOf('[');
        if (bracket >= 0)
        {
            var subscript = name[(bracket + 1)..].TrimEnd(']');
            if (subscript.Length == 0 || !subscript.All(char.IsAsciiDigit)) throw new ShellSyntaxException($"the array subscript in '{name}' is arithmetic only known at run time");
            name = name[..bracket];
        }
        if (ChangesWhatRuns(name))
        {
            state.EnvironmentOverride = true;
            state.Findings.Add($"{how} {name}=: env_override");
        }
    }

    /// <summary>
    /// Programs read their settings from all-capitals variables (LD_PRELOAD, PATH, BASH_ENV, PAGER, GIT_SSH_COMMAND,
    /// PYTHONPATH, LESSOPEN, ...), too many to list: every such name but the locale and output format ones counts,
    /// as do the proxy variables, which some programs read in lower case.
    /// </summary>
    public static bool ChangesWhatRuns(string name)
    {
        if (name.Contains("proxy", StringComparison.OrdinalIgnoreCase)) return true;
        if (name.StartsWith("LC_", StringComparison.Ordinal) || HarmlessVariables.Contains(name)) return false;
        return !name.Any(char.IsAsciiLetterLower);
    }

    private static void CheckVariableNames(string program, List<ShellToken> args)
    {
        foreach (var arg in args) CheckVariableName(program, arg.Value);
    }

    private static void CheckVariableName(string program, string word)
    {
        var bracket = word.IndexOf('[');
        if (bracket <= 0 || !(char.IsAsciiLetter(word[0]) || word[0] == '_')) return;
        var close = word.IndexOf(']', bracket);
        var subscript = close < 0 ? word[(bracket + 1)..] : word[(bracket + 1)..close];
        if (subscript is "@" or "*" || subscript.Length > 0 && subscript.All(char.IsAsciiDigit)) return;
        throw new ShellSyntaxException($"{program} expands the array subscript in '{word}', which can run commands in bash");
    }

    /// <summary>[[ ]] and test: arithmetic comparisons evaluate their operands as expressions in bash; -v expands subscripts.</summary>
    private static void CheckConditional(List<ShellToken> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var word = args[i].Value;
            if (word is "-eq" or "-ne" or "-lt" or "-le" or "-gt" or "-ge")
            {
                foreach (var operand in new[] { i > 0 ? args[i - 1] : null, i + 1 < args.Count ? args[i + 1] : null })
                {
                    if (operand is null) continue;
                    var text = operand.Value.TrimStart('-', '+');
                    if (operand.HasExpansion || text.Length == 0 || !text.All(char.IsAsciiDigit))
                        throw new ShellSyntaxException("an arithmetic comparison over a value only known at run time can run commands in bash");
                }
            }
            if (word == "-v" && i + 1 < args.Count) CheckVariableName("test -v", args[i + 1].Value);
        }
    }

    /// <summary>
    /// awk runs its program text: it is judged by what it can do. A program that provably has no system(),
    /// pipe, getline or print/printf redirection runs nothing else; anything else (or a program from a file,
    /// or one only known at run time) runs_program.
    /// </summary>
    private static void Awk(string program, List<ShellToken> args, State state, string here, bool fedByInput)
    {
        string? text = null;
        var unknown = false;
        for (var i = 0; i < args.Count; i++)
        {
            var value = args[i].Value;
            if (value == "--") { if (text is null && i + 1 < args.Count) { text = args[i + 1].Value; unknown |= args[i + 1].HasExpansion; } break; }
            if (value.StartsWith("--", StringComparison.Ordinal))
            {
                // gawk's long options, abbreviated to any unambiguous prefix: --fil is --file, --so is --source.
                var equals = value.IndexOf('=');
                var typed = equals < 0 ? value[2..] : value[2..equals];
                var matches = AwkLongOptions.Where(o => o == typed || o.StartsWith(typed, StringComparison.Ordinal)).ToArray();
                var option = AwkLongOptions.Contains(typed) ? typed : matches.Length == 1 ? matches[0] : null;
                if (option is "assign" or "field-separator") { if (equals < 0) i++; continue; }
                if (option is "source")
                {
                    var source = equals >= 0 ? args[i] with { Value = value[(equals + 1)..] } : i + 1 < args.Count ? args[++i] : null;
                    if (source is null) { unknown = true; break; }
                    text = (text ?? "") + "\n" + source.Value;
                    unknown |= source.HasExpansion;
                    continue;
                }
                if (option is null || !AwkHarmlessLongOptions.Contains(option))
                {
                    unknown = true; // a program from a file, an extension, a file written (--profile, --dump-variables), or not known
                    break;
                }
                continue;
            }
            if (value.Length > 1 && value[0] == '-' && AwkClusterWritesOrLoads(value))
            {
                unknown = true; // -d, -p, -o write files (variables, profile, program); mawk's -W takes options of its own (-W exec)
                break;
            }
            if (value is "-F" or "-v" or "--assign" or "--field-separator") { i++; continue; }
            if (value.StartsWith("-F", StringComparison.Ordinal) || value.StartsWith("-v", StringComparison.Ordinal) || value.StartsWith("--assign=", StringComparison.Ordinal)) continue;
            if (value is "-f" or "--file" or "-E" or "--exec" or "-i" or "--include" or "-l" or "--load" || value.StartsWith("--file=", StringComparison.Ordinal)
                || value.StartsWith("-f", StringComparison.Ordinal) && value.Length > 2)
            {
                unknown = true; // the program (or an extension) is in a file the line does not show
                break;
            }
            if (value is "-e" or "--source") { if (i + 1 < args.Count) { text = (text ?? "") + "\n" + args[i + 1].Value; unknown |= args[i + 1].HasExpansion; } i++; continue; }
            if (value.StartsWith('-') && value.Length > 1) continue;
            if (text is null) { text = value; unknown |= args[i].HasExpansion; }
            break;
        }
        if (unknown || text is null || !AwkProgramIsSafe(text))
        {
            Found(state, ref state.RunsProgram, $"{here}: its program can run commands or write files: runs_program");
            state.InlineCode = true;
        }
    }

    private static bool AwkClusterWritesOrLoads(string cluster)
    {
        for (var i = 1; i < cluster.Length; i++)
        {
            if (cluster[i] is 'd' or 'p' or 'o' or 'W') return true;
            if (cluster[i] is 'F' or 'v' or 'f' or 'e' or 'E' or 'i' or 'l') return false; // the rest is a value; -f and kin are read below
        }
        return false;
    }

    public static bool AwkProgramIsSafe(string text)
    {
        // Strings and regular expressions are data; what is left must not pipe, call system, read with getline,
        // or redirect print/printf (print > "file" writes; print | "cmd" runs).
        var code = new System.Text.StringBuilder();
        var previousSignificant = '\0';
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '"')
            {
                for (i++; i < text.Length && text[i] != '"'; i++) if (text[i] == '\\') i++;
                code.Append("\"\"");
                previousSignificant = '"';
                continue;
            }
            if (c == '/' && previousSignificant is '\0' or '(' or ',' or '{' or ';' or '!' or '~' or '&' or '|' or '\n' or '}')
            {
                for (i++; i < text.Length && text[i] != '/'; i++) if (text[i] == '\\') i++;
                code.Append("//");
                previousSignificant = '/';
                continue;
            }
            if (c == '#') { while (i < text.Length && text[i] != '\n') i++; code.Append('\n'); continue; }
            code.Append(c);
            if (!char.IsWhiteSpace(c) || c == '\n') previousSignificant = c;
        }
        var stripped = code.ToString();
        if (stripped.Contains("system", StringComparison.Ordinal) || stripped.Contains("getline", StringComparison.Ordinal)
            || stripped.Contains('@') || stripped.Contains("ENVIRON", StringComparison.Ordinal) || stripped.Contains("PROCINFO", StringComparison.Ordinal)
            || stripped.Contains("close", StringComparison.Ordinal) || stripped.Contains("fflush", StringComparison.Ordinal))
            return false;
        for (var i = 0; i < stripped.Length; i++)
        {
            if (stripped[i] == '|' && !(i + 1 < stripped.Length && stripped[i + 1] == '|') && !(i > 0 && stripped[i - 1] == '|')) return false;
        }
        // '>' is a comparison in a pattern or expression, a redirection in a print statement.
        foreach (var statement in stripped.Split(';', '\n', '{', '}'))
        {
            var s = statement.TrimStart();
            if ((s.StartsWith("print", StringComparison.Ordinal) || s.Contains(" print", StringComparison.Ordinal) || s.Contains(")print", StringComparison.Ordinal))
                && s.Contains('>'))
                return false;
        }
        return true;
    }

    /// <summary>
    /// sed's script can run commands (the e command, the e flag of s), write files (w, W, the w flag of s) and
    /// read files (r, R): the script is read command by command; one that cannot be read runs_program.
    /// </summary>
    private static void Sed(List<ShellToken> args, State state, string here)
    {
        var scripts = new List<ShellToken>();
        var fromFile = false;
        for (var i = 0; i < args.Count; i++)
        {
            var value = args[i].Value;
            if (value is "-e" or "--expression") { if (i + 1 < args.Count) scripts.Add(args[++i]); continue; }
            if (value.StartsWith("--expression=", StringComparison.Ordinal)) { scripts.Add(args[i] with { Value = value["--expression=".Length..] }); continue; }
            if (value is "-f" or "--file" || value.StartsWith("--file=", StringComparison.Ordinal)) { fromFile = true; continue; }
            if (value is "-l" or "--line-length") { i++; continue; }
            if (value.StartsWith('-') && value.Length > 1)
            {
                if (!value.StartsWith("--", StringComparison.Ordinal) && value.Contains('e') && scripts.Count == 0 && i + 1 < args.Count)
                    scripts.Add(args[++i]);
                else if (!value.StartsWith("--", StringComparison.Ordinal) && value.Contains('f')) fromFile = true;
                continue;
            }
            if (scripts.Count == 0 && !fromFile) scripts.Add(args[i]);
            break;
        }
        if (fromFile || scripts.Any(s => s.HasExpansion))
        {
            Found(state, ref state.RunsProgram, $"{here}: its script is not on the line: runs_program");
            return;
        }
        foreach (var script in scripts)
        {
            var effects = SedScript.Effects(script.Value);
            if (effects.Unreadable || effects.RunsCommands) Found(state, ref state.RunsProgram, $"{here} '{script.Value}': runs_program");
            if (effects.WrittenFiles.Count > 0) Found(state, ref state.WritesFiles, $"{here} '{script.Value}': writes_files");
            foreach (var file in effects.WrittenFiles.Concat(effects.ReadFiles))
                state.Paths.Add(new ShellPath("sed", file, FilePathPattern.OfWord(ShellLexer.EscapePattern(file), state.WorkingDirectories)));
        }
    }

    /// <summary>Whether an interpreter's arguments hold code: a code flag alone, in a cluster (-ne), with its value attached or after '='.</summary>
    private static bool RunsInlineCode(string interpreter, List<ShellToken> args)
    {
        InlineCodeFlags.TryGetValue(interpreter, out var flags);
        InlineCodeLetters.TryGetValue(interpreter, out var letters);
        foreach (var arg in args)
        {
            var value = arg.Value;
            if (value == "--") break;
            if (flags is not null && flags.Any(f => value == f || f.StartsWith("--", StringComparison.Ordinal) && value.StartsWith(f + "=", StringComparison.Ordinal)
                                                  || f.Length == 2 && value.StartsWith(f, StringComparison.Ordinal)))
                return true;
            // PowerShell takes any prefix of -Command and -EncodedCommand, in any case (-c, -com, -e, -ec, -enc).
            if (interpreter == "pwsh" && value.Length > 1 && value[0] == '-'
                && ("-command".StartsWith(value, StringComparison.OrdinalIgnoreCase) || "-encodedcommand".StartsWith(value, StringComparison.OrdinalIgnoreCase)
                    || value.Equals("-ec", StringComparison.OrdinalIgnoreCase)))
                return true;
            if (letters.Code is null || value.Length < 2 || value[0] != '-' || value[1] == '-') continue;
            for (var i = 1; i < value.Length; i++)
            {
                if (letters.Code.Contains(value[i])) return true;
                if (letters.Valued.Contains(value[i])) break;
            }
        }
        return false;
    }

    /// <summary>A script operand that is a stream: a process substitution, stdin, or a file descriptor (/dev/fd/N, /proc/*/fd/N).</summary>
    private static bool IsCodeStream(ShellToken arg)
    {
        if (arg.Value.Length == 0 && arg.Substitutions.Count > 0) return true; // <(...) or $(...): written by another command
        var value = arg.Value;
        return value is "/dev/stdin" || value.StartsWith("/dev/fd/", StringComparison.Ordinal)
               || value.StartsWith("/proc/", StringComparison.Ordinal) && value.Contains("/fd/", StringComparison.Ordinal);
    }

    /// <summary>The word after -c (or a flag cluster with c, like -lc) of a shell.</summary>
    private static ShellToken? ShellInlineCommand(List<ShellToken> args)
    {
        for (var i = 0; i < args.Count; i++)
        {
            var value = args[i].Value;
            if (!value.StartsWith('-') || value.StartsWith("--", StringComparison.Ordinal)) continue;
            if (value.Contains('c')) return i + 1 < args.Count ? args[i + 1] : throw new ShellSyntaxException("-c has no command");
        }
        return null;
    }

    private static string BaseInterpreter(string program)
    {
        // python3.12, perl5.36, ruby3.1 and the like.
        var trimmed = program.TrimEnd("0123456789.".ToCharArray());
        return trimmed.Length > 0 ? trimmed : program;
    }

    private static List<ShellToken> SkipOptions(List<ShellToken> args, string[] withValue, bool assignments = false)
    {
        var i = 0;
        while (i < args.Count)
        {
            var value = args[i].Value;
            if (value == "--") { i++; break; }
            if (assignments && IsAssignment(value)) { i++; continue; }
            if (!value.StartsWith('-') || value == "-") break;
            i += withValue.Contains(value) ? 2 : 1;
        }
        return args.Skip(i).ToList();
    }

    private static List<ShellToken> LookThrough(string program, List<ShellToken> args) => program switch
    {
        "chrt" => SkipOptions(args, withValue: []).Skip(1).ToList(),
        "taskset" => SkipOptions(args, withValue: []).Skip(1).ToList(),
        "strace" or "ltrace" => SkipOptions(args, withValue: ["-o", "-e", "-p", "-s", "-u", "-E", "-a", "-b", "-I", "-O", "-P", "-S", "-X"]),
        "script" => args.FindIndex(a => a.Value is "-c" or "--command") is var i && i >= 0 && i + 1 < args.Count
            ? [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-c"), args[i + 1]]
            : [new ShellToken(ShellTokenKind.Word, "sh")],
        _ => SkipOptions(args, withValue: []),
    };

    /// <summary>
    /// A wrapper that runs its command in another directory (env -C, sudo -D): relative names are read there.
    /// The directory joins the working directories, as a cd would.
    /// </summary>
    private static void RunsIn(IEnumerable<ShellToken?> directories, State state)
    {
        foreach (var directory in directories)
        {
            if (directory is null || directory.HasExpansion) state.WorkingDirectories.Add("/**");
            else foreach (var pattern in FilePathPattern.OfWord(directory.Pattern, state.WorkingDirectories)) state.WorkingDirectories.Add(pattern.Text);
        }
    }

    /// <summary>find -exec and its kin run a command on each file found: {} is any file under the starting points.</summary>
    private void FindExec(List<ShellToken> args, State state, string via, int depth)
    {
        var roots = args.TakeWhile(a => !(a.Value.StartsWith('-') || a.Value is "(" or "!" or ")")).Select(a => a.Pattern).ToList();
        if (roots.Count == 0) roots.Add(".");
        var found = roots.Count == 1 ? WithinDirectory(roots[0]) : "{" + string.Join(',', roots) + "}/**";
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i].Value is not ("-exec" or "-execdir" or "-ok" or "-okdir")) continue;
            var end = args.FindIndex(i + 1, a => a.Value is ";" or "+");
            var command = args.Skip(i + 1).Take((end < 0 ? args.Count : end) - i - 1)
                .Select(a => a.Value.Contains("{}", StringComparison.Ordinal) ? a with { Pattern = found, HasExpansion = true } : a).ToList();
            if (command.Count > 0 && command[0].Value == "{}") throw new ShellSyntaxException("find -exec runs the files it finds");
            // -execdir and -okdir run in the directory of each file found, or the parent of a starting point: anywhere.
            if (args[i].Value is "-execdir" or "-okdir") state.WorkingDirectories.Add("/**");
            RunCommand(command, state, via, depth + 1, fedByPipe: false, stdinRedirected: false);
            i = end < 0 ? args.Count : end;
        }
        if (args.Any(a => a.Value is "-delete")) state.Commands.Add(new ShellCommand("find-delete", "find", ["-delete"], via));
    }

    private static bool IsAssignmentWord(ShellToken word) =>
        IsAssignment(word.Value) && word.Value.IndexOf('=') < word.UnquotedPrefix;

    private static bool IsAssignment(string word)
    {
        var equals = word.IndexOf('=');
        if (equals <= 0) return false;
        if (!(char.IsAsciiLetter(word[0]) || word[0] == '_')) return false;
        var end = equals;
        if (word[end - 1] == '+') end--; // NAME+=value
        var bracket = word.IndexOf('[');
        if (bracket > 0 && bracket < end && word[end - 1] == ']') end = bracket; // NAME[subscript]=value
        for (var i = 1; i < end; i++)
            if (!(char.IsAsciiLetterOrDigit(word[i]) || word[i] == '_')) return false;
        return true;
    }

    private sealed class State
    {
        public readonly List<ShellCommand> Commands = [];
        public readonly List<ShellPath> Paths = [];
        public readonly List<string> Findings = [];
        // Where commands may run: the login directory, then every directory a cd may have reached (a subshell's cd
        // may or may not carry over, so each is added, never replaced).
        public readonly HashSet<string> WorkingDirectories = new(StringComparer.Ordinal) { FilePathPattern.Home };
        public bool Network;
        public bool PipeIntoInterpreter;
        public bool InlineCode;
        public bool RunsProgram;
        public bool WritesFiles;
        public bool EnvironmentOverride;
        public string? Unanalysable;
    }
}
