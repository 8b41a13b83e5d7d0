namespace Portcullis.Policy.Analysis.Shell;

/// <summary>
/// The options of a program that runs another (env, timeout, sudo, su, xargs, ...), read the way getopt_long reads
/// them: clustered short options (-iS), values attached or in the next word (-uroot, -u root, --user=root,
/// --user root), and long options abbreviated to any unambiguous prefix (--sig, --ch). The program to run is what
/// is left, so a value is never taken for the program and a program never for a value. An option the table does
/// not know, an ambiguous abbreviation or an option only known at run time makes the line unanalysable: the
/// analysis cannot tell which word the program would run.
/// </summary>
public sealed record CommandOptions(
    string ShortWithValue = "",
    string ShortFlags = "",
    string ShortOptionalValue = "",
    string[]? LongWithValue = null,
    string[]? LongFlags = null,
    string[]? LongOptionalValue = null,
    bool Permute = false,
    bool NumericOptions = false)
{
    private string[] WithValue => LongWithValue ?? [];
    private string[] Flags => LongFlags ?? [];
    private string[] Optional => LongOptionalValue ?? [];

    /// <summary>The options found (by their one-letter or full long name) with their values, and the operands.</summary>
    public sealed record Parsed(List<(string Name, ShellToken? Value)> Options, List<ShellToken> Operands)
    {
        public bool Has(params string[] names) => Options.Any(o => names.Contains(o.Name));

        public IEnumerable<ShellToken?> Values(params string[] names) => Options.Where(o => names.Contains(o.Name)).Select(o => o.Value);
    }

    public Parsed Parse(string program, IReadOnlyList<ShellToken> args)
    {
        var options = new List<(string, ShellToken?)>();
        var operands = new List<ShellToken>();
        for (var i = 0; i < args.Count; i++)
        {
            var word = args[i];
            var value = word.Value;
            if (value == "--")
            {
                operands.AddRange(args.Skip(i + 1));
                break;
            }
            var isOption = value.StartsWith('-') && value.Length > 1;
            if (word.HasExpansion && (isOption || value.Length == 0 || word.Pattern.StartsWith("**", StringComparison.Ordinal)))
                throw new ShellSyntaxException($"{program} is given an option only known at run time");
            if (!isOption)
            {
                if (!Permute)
                {
                    operands.AddRange(args.Skip(i));
                    break;
                }
                operands.Add(word);
                continue;
            }
            if (NumericOptions && value.TrimStart('-').Length > 0 && value.TrimStart('-').All(char.IsAsciiDigit))
            {
                options.Add(("adjustment", word));
                continue;
            }
            if (value.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = value.IndexOf('=');
                var name = Resolve(program, equals < 0 ? value[2..] : value[2..equals]);
                if (WithValue.Contains(name))
                {
                    var held = equals >= 0 ? word with { Value = value[(equals + 1)..], Pattern = ShellLexer.EscapePattern(value[(equals + 1)..]) }
                        : i + 1 < args.Count ? args[++i] : null;
                    if (held is { HasExpansion: true } && held.Pattern.StartsWith("**", StringComparison.Ordinal) && !held.Quoted)
                        throw new ShellSyntaxException($"{program} --{name} has a value only known at run time");
                    options.Add((name, held));
                }
                else if (Optional.Contains(name))
                    options.Add((name, equals >= 0 ? word with { Value = value[(equals + 1)..], Pattern = ShellLexer.EscapePattern(value[(equals + 1)..]) } : null));
                else options.Add((name, null));
                continue;
            }
            for (var j = 1; j < value.Length; j++)
            {
                var letter = value[j];
                var name = letter.ToString();
                if (ShortWithValue.Contains(letter))
                {
                    var held = j + 1 < value.Length ? word with { Value = value[(j + 1)..], Pattern = ShellLexer.EscapePattern(value[(j + 1)..]) }
                        : i + 1 < args.Count ? args[++i] : null;
                    if (held is { HasExpansion: true } && held.Pattern.StartsWith("**", StringComparison.Ordinal) && !held.Quoted)
                        throw new ShellSyntaxException($"{program} -{letter} has a value only known at run time");
                    options.Add((name, held));
                    break;
                }
                if (ShortOptionalValue.Contains(letter))
                {
                    options.Add((name, j + 1 < value.Length ? word with { Value = value[(j + 1)..], Pattern = ShellLexer.EscapePattern(value[(j + 1)..]) } : null));
                    break;
                }
                if (!ShortFlags.Contains(letter))
                    throw new ShellSyntaxException($"{program} -{letter} is not an option the analysis knows, so the program it runs is not known");
                options.Add((name, null));
            }
        }
        return new Parsed(options, operands);
    }

    /// <summary>A long option's full name: itself, or the one option it is an unambiguous prefix of.</summary>
    private string Resolve(string program, string name)
    {
        var all = WithValue.Concat(Flags).Concat(Optional).ToArray();
        if (all.Contains(name)) return name;
        var candidates = name.Length == 0 ? [] : all.Where(o => o.StartsWith(name, StringComparison.Ordinal)).ToArray();
        return candidates.Length == 1
            ? candidates[0]
            : throw new ShellSyntaxException(candidates.Length == 0
                ? $"{program} --{name} is not an option the analysis knows, so the program it runs is not known"
                : $"{program} --{name} is ambiguous ({string.Join(", ", candidates.Select(c => "--" + c))})");
    }

    /// <summary>The programs that run another program, and how each reads its options.</summary>
    public static readonly IReadOnlyDictionary<string, CommandOptions> Wrappers = new Dictionary<string, CommandOptions>(StringComparer.Ordinal)
    {
        ["env"] = new(ShortWithValue: "uCSa", ShortFlags: "i0v", LongWithValue: ["unset", "chdir", "split-string", "argv0"],
            LongFlags: ["ignore-environment", "null", "list-signal-handling", "debug", "help", "version"],
            LongOptionalValue: ["block-signal", "default-signal", "ignore-signal"]),
        ["timeout"] = new(ShortWithValue: "sk", ShortFlags: "fpv", LongWithValue: ["signal", "kill-after"],
            LongFlags: ["foreground", "preserve-status", "verbose", "help", "version"]),
        ["nice"] = new(ShortWithValue: "n", LongWithValue: ["adjustment"], LongFlags: ["help", "version"], NumericOptions: true),
        ["ionice"] = new(ShortWithValue: "cnpPu", ShortFlags: "thV", LongWithValue: ["class", "classdata", "pid", "pgid", "uid"],
            LongFlags: ["ignore", "help", "version"]),
        ["stdbuf"] = new(ShortWithValue: "ioe", LongWithValue: ["input", "output", "error"], LongFlags: ["help", "version"]),
        ["sudo"] = new(ShortWithValue: "CDghpRrTtUu", ShortFlags: "AbBEeHiKklNnPSsVv",
            LongWithValue: ["close-from", "chdir", "group", "host", "prompt", "chroot", "role", "type", "command-timeout", "other-user", "user"],
            LongFlags: ["askpass", "background", "bell", "edit", "help", "login", "remove-timestamp", "reset-timestamp", "list", "non-interactive",
                "preserve-groups", "stdin", "shell", "validate", "version", "set-home", "no-update"],
            LongOptionalValue: ["preserve-env"]),
        ["doas"] = new(ShortWithValue: "uC", ShortFlags: "Lns"),
        ["su"] = new(ShortWithValue: "cgGsw", ShortFlags: "flmpPhV",
            LongWithValue: ["command", "session-command", "group", "supp-group", "shell", "whitelist-environment"],
            LongFlags: ["fast", "login", "preserve-environment", "pty", "help", "version"], Permute: true),
        ["runuser"] = new(ShortWithValue: "cgGsuw", ShortFlags: "flmpPhV",
            LongWithValue: ["command", "session-command", "group", "supp-group", "shell", "user", "whitelist-environment"],
            LongFlags: ["fast", "login", "preserve-environment", "pty", "help", "version"], Permute: true),
        ["flock"] = new(ShortWithValue: "wE", ShortFlags: "sxeunoFhV", LongWithValue: ["timeout", "conflict-exit-code"],
            LongFlags: ["shared", "exclusive", "unlock", "nonblock", "nb", "close", "no-fork", "verbose", "help", "version"]),
        ["watch"] = new(ShortWithValue: "nq", ShortFlags: "bcCegptwxrhv", ShortOptionalValue: "d", LongWithValue: ["interval", "equexit"],
            LongFlags: ["beep", "color", "no-color", "errexit", "chgexit", "precise", "no-title", "no-wrap", "exec", "no-rerun", "help", "version"],
            LongOptionalValue: ["differences"]),
        ["xargs"] = new(ShortWithValue: "aEIdLnPs", ShortFlags: "0oprtx", ShortOptionalValue: "eil",
            LongWithValue: ["arg-file", "delimiter", "max-args", "max-procs", "max-chars", "process-slot-var"],
            LongFlags: ["null", "open-tty", "interactive", "no-run-if-empty", "verbose", "exit", "show-limits", "help", "version"],
            LongOptionalValue: ["eof", "replace", "max-lines"]),
        ["exec"] = new(ShortWithValue: "a", ShortFlags: "cl"),
        ["command"] = new(ShortFlags: "pvV"),
        ["setsid"] = new(ShortFlags: "cfwhV", LongFlags: ["ctty", "fork", "wait", "help", "version"]),
        ["nohup"] = new(LongFlags: ["help", "version"]),
        // GNU time, the program (bash's time keyword is read as a reserved word).
        ["time"] = new(ShortWithValue: "fo", ShortFlags: "apqvV", LongWithValue: ["format", "output"],
            LongFlags: ["append", "portability", "quiet", "verbose", "help", "version"]),
    };
}
