namespace Portcullis.Policy.Analysis.Shell;

/// <summary>
/// Finds every program a POSIX shell command line would run. Spelling does not hide a program (quotes,
/// escapes, $'\x..', paths), wrappers are looked through recursively, and anything whose effect depends on
/// values only known at run time (a variable or substitution as the program, a here-document, case) makes
/// the line unanalysable, which the policy denies.
/// </summary>
public sealed class ShellCommandAnalyzer
{
    private const int MaxDepth = 8;

    private static readonly HashSet<string> Shells = new(StringComparer.Ordinal)
        { "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox-sh" };

    private static readonly HashSet<string> Interpreters = new(StringComparer.Ordinal)
    {
        "python", "python2", "python3", "perl", "ruby", "node", "nodejs", "php", "lua", "tclsh", "pwsh", "powershell",
        "awk", "gawk", "mawk", "nawk", "jshell", "irb", "Rscript", "osascript", "expect", "deno", "bun",
    };

    private static readonly Dictionary<string, string[]> InlineCodeFlags = new(StringComparer.Ordinal)
    {
        ["python"] = ["-c"], ["perl"] = ["-e", "-E"], ["ruby"] = ["-e"], ["node"] = ["-e", "--eval", "-p", "--print"],
        ["php"] = ["-r"], ["lua"] = ["-e"], ["pwsh"] = ["-c", "-Command", "-EncodedCommand"], ["deno"] = ["eval"],
        ["bun"] = ["-e", "--eval"], ["Rscript"] = ["-e"], ["tclsh"] = [],
    };

    private static readonly HashSet<string> NetworkPrograms = new(StringComparer.Ordinal)
    {
        "curl", "wget", "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "sftp", "rsync", "ftp", "tftp", "lftp",
        "nslookup", "dig", "host", "ping", "ping6", "openssl", "aria2c", "lynx", "links", "w3m", "http", "https", "xh",
        "axel", "smbclient", "mail", "mailx", "sendmail", "mutt", "git", "scp", "ssh-keyscan", "nmap", "whois", "irc",
        "curlie", "httpie", "gcloud", "aws", "az", "gsutil", "rclone", "s3cmd", "ldapsearch", "mysql", "psql", "redis-cli",
        "mongo", "mongosh", "sqlcmd", "tcpdump", "iperf", "iperf3", "dnsenum", "proxychains",
    };

    private static readonly HashSet<string> ReservedWords = new(StringComparer.Ordinal)
        { "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "time", "in", "esac" };

    public ShellAnalysis Analyze(string commandLine)
    {
        var state = new State();
        try
        {
            AnalyzeLine(commandLine, state, via: null, depth: 0);
        }
        catch (ShellSyntaxException ex)
        {
            state.Unanalysable ??= ex.Message;
        }
        return new ShellAnalysis
        {
            Commands = state.Commands,
            UsesNetwork = state.Network || state.Commands.Any(c => NetworkPrograms.Contains(c.Program)),
            PipesIntoInterpreter = state.PipeIntoInterpreter,
            RunsInlineCode = state.InlineCode,
            Unanalysable = state.Unanalysable,
        };
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
            else if (token.Kind == ShellTokenKind.Operator && token.Value is ";" or "&" or "&&" or "||" or "\n" or ";;")
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

        // Every substitution runs, wherever it stands: in arguments, assignments or redirection targets.
        foreach (var substitution in tokens.SelectMany(t => t.Substitutions))
            AnalyzeLine(substitution, state, via is null ? "$(...)" : via + " > $(...)", depth + 1);

        var words = new List<ShellToken>();
        var stdinRedirected = false;
        for (var i = 0; i < tokens.Count; i++)
        {
            var token = tokens[i];
            if (token.Kind == ShellTokenKind.Redirection)
            {
                var target = i + 1 < tokens.Count ? tokens[i + 1] : throw new ShellSyntaxException($"'{token.Value}' has no target");
                if (token.Value is "<<" or "<<-")
                    throw new ShellSyntaxException("here-documents are not analysed");
                if (token.Value is "<" or "<<<" or "<>") stdinRedirected = true;
                if (target.Value.StartsWith("/dev/tcp/", StringComparison.Ordinal) || target.Value.StartsWith("/dev/udp/", StringComparison.Ordinal))
                    state.Network = true;
                if (target.HasExpansion && target.Value.Contains("/dev/", StringComparison.Ordinal))
                    throw new ShellSyntaxException("a redirection target is built at run time");
                i++;
                continue;
            }
            words.Add(token);
        }

        // Leading assignments (NAME=value) and reserved words are not the program.
        var start = 0;
        while (start < words.Count)
        {
            var word = words[start];
            if (!word.Quoted && IsAssignment(word.Value)) { start++; continue; }
            if (!word.Quoted && ReservedWords.Contains(word.Value)) { start++; continue; }
            break;
        }
        if (start >= words.Count) return;

        var first = words[start].Value;
        if (!words[start].Quoted && first is "for" or "select") return; // a loop header: its words are data
        if (!words[start].Quoted && first == "case")
            throw new ShellSyntaxException("case statements are not analysed");
        if (!words[start].Quoted && first == "function") start += 2; // function name { ... }
        if (start >= words.Count) return;

        RunCommand(words.Skip(start).ToList(), state, via, depth, fedByPipe && !stdinRedirected, stdinRedirected);
    }

    private void RunCommand(List<ShellToken> argv, State state, string? via, int depth, bool fedByPipe, bool stdinRedirected)
    {
        while (true)
        {
            if (argv.Count == 0) return;
            var programWord = argv[0];
            if (programWord.HasExpansion || programWord.Value.Length == 0)
                throw new ShellSyntaxException("the program to run is only known at run time (a variable, substitution or glob)");
            var path = programWord.Value;
            var program = Path.GetFileName(path.TrimEnd('/'));
            if (program.Length == 0) throw new ShellSyntaxException($"'{path}' is not a program");
            var args = argv.Skip(1).ToList();
            state.Commands.Add(new ShellCommand(program, path, args.Select(a => a.Value).ToList(), via));
            var here = via is null ? program : $"{via} > {program}";

            if (Shells.Contains(program) || program == "busybox" && args.FirstOrDefault()?.Value is "sh" or "ash")
            {
                if (program == "busybox") args = args.Skip(1).ToList();
                var inline = ShellInlineCommand(args);
                if (inline is not null)
                {
                    if (inline.HasExpansion) throw new ShellSyntaxException($"{program} -c runs a command only known at run time");
                    AnalyzeLine(inline.Value, state, here, depth + 1);
                }
                else if (!args.Any(a => !a.Value.StartsWith('-')) || args.Any(a => a.Value is "-s" or "-" or "/dev/stdin"))
                {
                    // A shell reading its commands from stdin: what it runs came through the pipe or redirection.
                    if (fedByPipe || stdinRedirected) state.PipeIntoInterpreter = true;
                }
                return;
            }

            if (Interpreters.Contains(program) || Interpreters.Contains(BaseInterpreter(program)))
            {
                var name = Interpreters.Contains(program) ? program : BaseInterpreter(program);
                if (InlineCodeFlags.TryGetValue(BaseInterpreter(name), out var flags) && args.Any(a => flags.Contains(a.Value))
                    || name is "awk" or "gawk" or "mawk" or "nawk")
                    state.InlineCode = true;
                var readsStdin = !args.Any(a => !a.Value.StartsWith('-')) || args.Any(a => a.Value is "-" or "/dev/stdin");
                if (readsStdin && (fedByPipe || stdinRedirected)) state.PipeIntoInterpreter = true;
                return;
            }

            switch (program)
            {
                case "eval":
                    if (args.Any(a => a.HasExpansion)) throw new ShellSyntaxException("eval runs a command only known at run time");
                    AnalyzeLine(string.Join(' ', args.Select(a => a.Value)), state, here, depth + 1);
                    return;
                case "busybox" or "toybox":
                    argv = args;
                    continue;
                case "env":
                    argv = SkipOptions(args, withValue: ["-u", "--unset", "-C", "--chdir", "-S", "--split-string"], assignments: true);
                    if (args.FirstOrDefault(a => a.Value is "-S" or "--split-string") is not null)
                        throw new ShellSyntaxException("env -S splits a command only known at run time");
                    continue;
                case "timeout":
                    argv = SkipOptions(args, withValue: ["-s", "--signal", "-k", "--kill-after"]).Skip(1).ToList();
                    continue;
                case "nice":
                    argv = SkipOptions(args, withValue: ["-n", "--adjustment"]);
                    continue;
                case "ionice":
                    argv = SkipOptions(args, withValue: ["-c", "--class", "-n", "--classdata", "-p", "--pid", "-P", "-u"]);
                    continue;
                case "stdbuf":
                    argv = SkipOptions(args, withValue: ["-i", "-o", "-e", "--input", "--output", "--error"]);
                    continue;
                case "nohup" or "setsid" or "command" or "exec" or "builtin" or "unbuffer" or "time" or "doas" or "sudo"
                    or "chrt" or "taskset" or "flock" or "watch" or "strace" or "ltrace" or "script" or "su" or "runuser":
                    if (program == "command" && args.Any(a => a.Value is "-v" or "-V")) return; // looks up, runs nothing
                    argv = LookThrough(program, args);
                    continue;
                case "xargs":
                    argv = SkipOptions(args, withValue: ["-I", "-i", "-n", "-P", "-d", "-a", "-E", "-e", "-L", "-l", "-s",
                        "--max-args", "--max-procs", "--delimiter", "--arg-file", "--replace", "--max-lines", "--max-chars"]);
                    if (argv.Count == 0) argv = [new ShellToken(ShellTokenKind.Word, "echo")];
                    continue;
                case "find":
                    FindExec(args, state, here, depth);
                    return;
                case "source" or ".":
                    state.InlineCode = true; // runs a script file whose content is not on the line
                    return;
                default:
                    return;
            }
        }
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
        "sudo" or "doas" => SkipOptions(args, withValue: ["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "--user", "--group"], assignments: true),
        "su" or "runuser" => SkipOptions(args, withValue: ["-c", "--command", "-s", "--shell", "-g", "-G", "-u"]) is var rest
            && args.FindIndex(a => a.Value is "-c" or "--command") is var c && c >= 0 && c + 1 < args.Count
                ? [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-c"), args[c + 1]]
                : rest.Skip(1).ToList(),
        "chrt" => SkipOptions(args, withValue: []).Skip(1).ToList(),
        "taskset" => SkipOptions(args, withValue: []).Skip(1).ToList(),
        "flock" => SkipOptions(args, withValue: ["-w", "--timeout", "-E", "--conflict-exit-code"]).Skip(1).ToList(),
        "watch" => SkipOptions(args, withValue: ["-n", "--interval", "-d"]),
        "strace" or "ltrace" => SkipOptions(args, withValue: ["-o", "-e", "-p", "-s", "-u", "-E"]),
        "script" => args.FindIndex(a => a.Value is "-c" or "--command") is var i && i >= 0 && i + 1 < args.Count
            ? [new ShellToken(ShellTokenKind.Word, "sh"), new ShellToken(ShellTokenKind.Word, "-c"), args[i + 1]]
            : [],
        "exec" => SkipOptions(args, withValue: ["-a"]),
        _ => SkipOptions(args, withValue: []),
    };

    private void FindExec(List<ShellToken> args, State state, string via, int depth)
    {
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i].Value is not ("-exec" or "-execdir" or "-ok" or "-okdir")) continue;
            var end = args.FindIndex(i + 1, a => a.Value is ";" or "+");
            var command = args.Skip(i + 1).Take((end < 0 ? args.Count : end) - i - 1).ToList();
            RunCommand(command, state, via, depth + 1, fedByPipe: false, stdinRedirected: false);
            i = end < 0 ? args.Count : end;
        }
        if (args.Any(a => a.Value is "-delete")) state.Commands.Add(new ShellCommand("find-delete", "find", ["-delete"], via));
    }

    private static bool IsAssignment(string word)
    {
        var equals = word.IndexOf('=');
        if (equals <= 0) return false;
        if (!(char.IsAsciiLetter(word[0]) || word[0] == '_')) return false;
        for (var i = 1; i < equals; i++)
            if (!(char.IsAsciiLetterOrDigit(word[i]) || word[i] == '_')) return false;
        return true;
    }

    private sealed class State
    {
        public readonly List<ShellCommand> Commands = [];
        public bool Network;
        public bool PipeIntoInterpreter;
        public bool InlineCode;
        public string? Unanalysable;
    }
}
