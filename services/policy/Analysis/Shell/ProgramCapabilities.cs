using System.Reflection;
using System.Text.RegularExpressions;

namespace Portcullis.Policy.Analysis.Shell;

/// <summary>What a program can do beyond its name, as program-capabilities.txt (next to this file) lists it.</summary>
public enum ProgramCapability { RunsProgram, WritesFiles, Network, ReadsRecursively, ReadsFiles, ReadsListedFiles, ReadsProcessEnvironment }

/// <summary>A capability found on one command, with the flag or operand that gave it and, for a flag whose
/// value is a command line (>cmd) or a program (>prog), that value.</summary>
public sealed record CapabilityMatch(ProgramCapability Capability, string Program, string Evidence, ShellToken? Command = null, bool CommandIsLine = false);

/// <summary>The table of program-capabilities.txt, compiled once.</summary>
public sealed class ProgramCapabilities
{
    private readonly Dictionary<string, List<Entry>> _entries = new(StringComparer.Ordinal);

    public static ProgramCapabilities Default { get; } = Load();

    public bool IsKnown(string program) => _entries.ContainsKey(program);

    private static ProgramCapabilities Load()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Portcullis.Policy.Analysis.Shell.program-capabilities.txt")
            ?? throw new InvalidOperationException("program-capabilities.txt is not embedded in the policy assembly");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd());
    }

    public static ProgramCapabilities Parse(string text)
    {
        var table = new ProgramCapabilities();
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 3) throw new FormatException($"program-capabilities.txt:{number}: a program, a capability and a condition are needed");
            var capability = fields[1] switch
            {
                "runs_program" => ProgramCapability.RunsProgram,
                "writes_files" => ProgramCapability.WritesFiles,
                "network" => ProgramCapability.Network,
                "reads_recursively" => ProgramCapability.ReadsRecursively,
                "reads_files" => ProgramCapability.ReadsFiles,
                "reads_listed_files" => ProgramCapability.ReadsListedFiles,
                "reads_process_environment" => ProgramCapability.ReadsProcessEnvironment,
                _ => throw new FormatException($"program-capabilities.txt:{number}: unknown capability '{fields[1]}'"),
            };
            var conditions = fields.Skip(2).Where(f => !f.StartsWith("unless:", StringComparison.Ordinal)).Select(Condition.Parse).ToList();
            var unless = fields.Skip(2).Where(f => f.StartsWith("unless:", StringComparison.Ordinal)).Select(f => f["unless:".Length..])
                .Concat(fields.SkipWhile(f => !f.StartsWith("unless:", StringComparison.Ordinal)).Skip(1).Where(f => f.StartsWith('-')))
                .ToList();
            conditions.RemoveAll(c => unless.Contains(c.Text));
            foreach (var program in fields[0].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!table._entries.TryGetValue(program, out var list)) table._entries[program] = list = [];
                list.Add(new Entry(capability, conditions, unless));
            }
        }
        return table;
    }

    /// <summary>The capabilities a command has, given its arguments.</summary>
    public IEnumerable<CapabilityMatch> Of(string program, IReadOnlyList<ShellToken> args)
    {
        if (!_entries.TryGetValue(program, out var entries)) yield break;
        var parsed = ParsedArguments.Of(args);
        foreach (var entry in entries)
        {
            if (entry.Unless.Any(u => parsed.HasOption(u, globalOnly: false))) continue;
            foreach (var condition in entry.Conditions)
            {
                if (condition.Match(parsed, out var evidence, out var value))
                {
                    yield return new CapabilityMatch(entry.Capability, program, evidence, value, condition.ValueIsCommandLine);
                    if (value is null) break;
                }
            }
        }
    }

    private sealed record Entry(ProgramCapability Capability, List<Condition> Conditions, List<string> Unless);

    /// <summary>The arguments split into options (with their values, as far as they can be told) and operands.</summary>
    private sealed class ParsedArguments
    {
        public required IReadOnlyList<ShellToken> All { get; init; }
        public required int FirstOperand { get; init; }
        public required IReadOnlyList<ShellToken> Operands { get; init; }

        public static ParsedArguments Of(IReadOnlyList<ShellToken> args)
        {
            var operands = new List<ShellToken>();
            var first = -1;
            var endOfOptions = false;
            for (var i = 0; i < args.Count; i++)
            {
                var value = args[i].Value;
                if (!endOfOptions && value == "--") { endOfOptions = true; continue; }
                if (endOfOptions || !value.StartsWith('-') || value == "-")
                {
                    if (first < 0) first = i;
                    operands.Add(args[i]);
                }
            }
            return new ParsedArguments { All = args, FirstOperand = first < 0 ? args.Count : first, Operands = operands };
        }

        public bool HasOption(string option, bool globalOnly) => FindOption(option, globalOnly, out _, out _);

        /// <summary>Finds an option as a program would parse it; <paramref name="value"/> is the word that holds its value.</summary>
        public bool FindOption(string option, bool globalOnly, out string evidence, out ShellToken? value)
        {
            var limit = globalOnly ? FirstOperand : All.Count;
            for (var i = 0; i < limit; i++)
            {
                var word = All[i].Value;
                if (word == "--") break;
                if (option.StartsWith("--", StringComparison.Ordinal))
                {
                    if (!word.StartsWith("--", StringComparison.Ordinal)) continue;
                    var equals = word.IndexOf('=');
                    var name = equals < 0 ? word : word[..equals];
                    // getopt_long takes any unambiguous abbreviation, one letter included ("sort --o=FILE" is
                    // --output), so a prefix of the option counts.
                    if (name == option || name.Length >= 3 && option.StartsWith(name, StringComparison.Ordinal))
                    {
                        evidence = word;
                        value = equals >= 0 ? All[i] with { Value = word[(equals + 1)..], Pattern = ShellLexer.EscapePattern(word[(equals + 1)..]) }
                            : i + 1 < All.Count ? All[i + 1] : null;
                        return true;
                    }
                }
                else if (option.Length == 2)
                {
                    if (!word.StartsWith('-') || word.StartsWith("--", StringComparison.Ordinal) || word.Length < 2) continue;
                    var at = word.IndexOf(option[1], 1);
                    if (at < 0) continue;
                    evidence = word;
                    value = at + 1 < word.Length
                        ? All[i] with { Value = word[(at + 1)..].TrimStart('='), Pattern = ShellLexer.EscapePattern(word[(at + 1)..].TrimStart('=')) }
                        : i + 1 < All.Count ? All[i + 1] : null;
                    return true;
                }
                else if (word == option || word.StartsWith(option + "=", StringComparison.Ordinal))
                {
                    evidence = word;
                    value = word.Length > option.Length
                        ? All[i] with { Value = word[(option.Length + 1)..], Pattern = ShellLexer.EscapePattern(word[(option.Length + 1)..]) }
                        : i + 1 < All.Count ? All[i + 1] : null;
                    return true;
                }
            }
            evidence = "";
            value = null;
            return false;
        }
    }

    private sealed class Condition
    {
        public required string Text { get; init; }
        public bool ValueIsCommandLine { get; private init; }
        private bool ValueIsProgram { get; init; }
        private Func<ParsedArguments, (bool, string, ShellToken?)> Test { get; init; } = _ => (false, "", null);

        public static Condition Parse(string text)
        {
            var body = text;
            var global = body.StartsWith('^');
            if (global) body = body[1..];
            var isLine = body.EndsWith(">cmd", StringComparison.Ordinal);
            var isProgram = body.EndsWith(">prog", StringComparison.Ordinal);
            if (isLine) body = body[..^4];
            if (isProgram) body = body[..^5];
            Func<ParsedArguments, (bool, string, ShellToken?)> test;
            if (body == "always") test = _ => (true, "always", null);
            else if (body.StartsWith("sub:", StringComparison.Ordinal))
            {
                var glob = Glob(body[4..]);
                test = p => p.Operands.Count > 0 && glob.IsMatch(p.Operands[0].Value) ? (true, p.Operands[0].Value, null) : (false, "", null);
            }
            else if (body.StartsWith("arg:", StringComparison.Ordinal))
            {
                var glob = Glob(body[4..]);
                test = p => p.All.FirstOrDefault(a => glob.IsMatch(a.Value) || a.Value.StartsWith('-') && a.Value.Contains('=') && glob.IsMatch(a.Value[(a.Value.IndexOf('=') + 1)..]))
                    is { } hit ? (true, hit.Value, null) : (false, "", null);
            }
            else if (body.StartsWith("cluster:", StringComparison.Ordinal) && body.Split(':') is [_, { Length: 1 } letter, { Length: > 0 } letters])
            {
                // An operand made only of the program's letter options (ps's BSD options: ps auxe) that holds the letter.
                test = p => p.Operands.FirstOrDefault(o => o.Value.Length > 0 && o.Value.Contains(letter[0]) && o.Value.All(letters.Contains))
                    is { } hit ? (true, hit.Value, null) : (false, "", null);
            }
            else if (body.StartsWith("operands:", StringComparison.Ordinal))
            {
                var count = int.Parse(body["operands:".Length..], System.Globalization.CultureInfo.InvariantCulture);
                test = p => p.Operands.Count >= count ? (true, $"{count} operands", null) : (false, "", null);
            }
            else if (body.StartsWith('-') && body.IndexOf('=') is var equals && equals > 0)
            {
                var option = body[..equals];
                var glob = new Regex("^" + Regex.Escape(body[(equals + 1)..]).Replace(@"\*", ".*") + "$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
                test = p =>
                {
                    for (var i = 0; i < p.All.Count; i++)
                    {
                        var rest = new ParsedArguments { All = p.All.Skip(i).ToList(), FirstOperand = 0, Operands = [] };
                        if (rest.FindOption(option, false, out var evidence, out var value) && rest.All[0].Value == evidence
                            && value is not null && (glob.IsMatch(value.Value) || value.HasExpansion))
                            return (true, $"{evidence} {value.Value}", null);
                    }
                    return (false, "", null);
                };
            }
            else if (body.EndsWith('=') && !body.StartsWith('-'))
                test = p => p.Operands.FirstOrDefault(o => o.Value.StartsWith(body, StringComparison.Ordinal)) is { } hit ? (true, hit.Value, null) : (false, "", null);
            else if (body.StartsWith('-'))
                test = p => p.FindOption(body, global, out var evidence, out var value) ? (true, evidence, value) : (false, "", null);
            else throw new FormatException($"program-capabilities.txt: condition '{text}' is not understood");
            return new Condition { Text = body, ValueIsCommandLine = isLine, ValueIsProgram = isProgram, Test = test };
        }

        public bool Match(ParsedArguments args, out string evidence, out ShellToken? value)
        {
            var (hit, found, token) = Test(args);
            evidence = found;
            value = hit && (ValueIsCommandLine || ValueIsProgram) ? token ?? new ShellToken(ShellTokenKind.Word, "", HasExpansion: true) : null;
            return hit;
        }

        private static Regex Glob(string pattern) =>
            new("^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);
    }
}
