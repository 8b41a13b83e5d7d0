using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Portcullis.Policy.Analysis.Shell;
using Xunit.Abstractions;

namespace Portcullis.UnitTests.Policy;

/// <summary>
/// The shell analysis against a real shell parser: mvdan/sh's shfmt (Debian's shfmt package, installed by
/// scripts/servers.sh install) parses generated command lines as bash, and every simple command it sees
/// (wherever it stands: substitutions, parameter expansions, here-documents, process substitutions,
/// functions, loops) must be one the analysis found, unless the analysis refused the whole line.
/// </summary>
public class ShellDifferentialTests(ITestOutputHelper output)
{
    private const int Seed = 18_2026;
    private const int Count = 12_000;
    private const int Batch = 400;

    private static readonly ShellCommandAnalyzer Analyzer = new();

    [Fact]
    public void Every_command_the_bash_parser_sees_is_found_or_the_line_is_refused()
    {
        var clock = Stopwatch.StartNew();
        var generator = new CommandGenerator(new Random(Seed));
        var accepted = new List<(string Line, HashSet<string> Programs)>();
        var refused = 0;
        for (var n = 0; n < Count; n++)
        {
            var line = generator.Line();
            var analysis = Analyzer.Analyze(line);
            if (analysis.Unanalysable is not null || analysis.Commands.Count == 0) { refused++; continue; }
            accepted.Add((line, new HashSet<string>(analysis.Commands.Select(c => c.Program), StringComparer.Ordinal)));
        }

        var analysed = clock.Elapsed;
        var failures = new List<string>();
        var rejectedByShfmt = new List<string>();
        var batches = Enumerable.Range(0, (accepted.Count + Batch - 1) / Batch)
            .Select(b => accepted.GetRange(b * Batch, Math.Min(Batch, accepted.Count - b * Batch))).ToList();
        Parallel.ForEach(batches, new ParallelOptions { MaxDegreeOfParallelism = 4 }, batch =>
        {
            var batchFailures = new List<string>();
            var batchRejected = new List<string>();
            Compare(batch, batchFailures, batchRejected);
            lock (failures)
            {
                failures.AddRange(batchFailures);
                rejectedByShfmt.AddRange(batchRejected);
            }
        });
        output.WriteLine($"{Count} lines: analysed in {analysed.TotalSeconds:F1} s, compared with shfmt in {(clock.Elapsed - analysed).TotalSeconds:F1} s; " +
                         $"{accepted.Count} accepted, {refused} refused, {rejectedByShfmt.Count} accepted but not valid bash");

        Assert.True(accepted.Count >= Count / 4, $"only {accepted.Count} of {Count} generated lines were accepted; the generator is off");
        Assert.True(failures.Count == 0,
            $"{failures.Count} lines ran commands the analysis did not see (of {accepted.Count} accepted, {refused} refused):\n" +
            string.Join("\n", failures.Take(25)));
        // Lines bash cannot parse run nothing past the error, and shfmt sees nothing in them to compare; they must stay few,
        // or the comparison above would be empty.
        Assert.True(rejectedByShfmt.Count < accepted.Count / 10,
            $"{rejectedByShfmt.Count} accepted lines are not valid bash:\n" + string.Join("\n", rejectedByShfmt.Take(25)));
    }

    private static void Compare(List<(string Line, HashSet<string> Programs)> batch, List<string> failures, List<string> rejected)
    {
        // One file of many lines, each ended by a newline; shfmt's byte offsets map nodes back to their line.
        var text = new StringBuilder();
        var starts = new List<int>();
        var bytes = 0;
        foreach (var (line, _) in batch)
        {
            starts.Add(bytes);
            var entry = line + "\n";
            text.Append(entry);
            bytes += Encoding.UTF8.GetByteCount(entry);
        }
        var json = Shfmt(text.ToString());
        if (json is null)
        {
            if (batch.Count == 1) { rejected.Add(Show(batch[0].Line)); return; }
            var half = batch.Count / 2;
            Compare(batch.GetRange(0, half), failures, rejected);
            Compare(batch.GetRange(half, batch.Count - half), failures, rejected);
            return;
        }
        using var document = JsonDocument.Parse(json);
        var seen = new List<(int Offset, string? Name)>();
        Walk(document.RootElement, seen);
        foreach (var (offset, name) in seen)
        {
            var index = starts.BinarySearch(offset);
            if (index < 0) index = ~index - 1;
            var (line, programs) = batch[index];
            if (name is null)
                failures.Add($"{Show(line)}  -- a command whose name is only known at run time was accepted");
            else if (!programs.Contains(Path.GetFileName(name.TrimEnd('/'))))
                failures.Add($"{Show(line)}  -- bash runs '{name}', the analysis saw [{string.Join(", ", programs)}]");
        }
    }

    /// <summary>Every CallExpr with a program word, and the builtins bash parses as clauses of their own.</summary>
    private static void Walk(JsonElement node, List<(int, string?)> seen)
    {
        if (node.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in node.EnumerateArray()) Walk(item, seen);
            return;
        }
        if (node.ValueKind != JsonValueKind.Object) return;
        var type = node.TryGetProperty("Type", out var t) ? t.GetString() : null;
        if (type == "CallExpr" && node.TryGetProperty("Args", out var args) && args.ValueKind == JsonValueKind.Array && args.GetArrayLength() > 0)
            seen.Add((args[0].GetProperty("Pos").GetProperty("Offset").GetInt32(), StaticWord(args[0])));
        if (type == "DeclClause" && node.TryGetProperty("Variant", out var variant))
            seen.Add((node.GetProperty("Pos").GetProperty("Offset").GetInt32(), variant.GetProperty("Value").GetString()));
        foreach (var property in node.EnumerateObject())
            if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array) Walk(property.Value, seen);
    }

    /// <summary>The value of a word made only of literals and quotes, as bash would pass it; null when it expands.</summary>
    private static string? StaticWord(JsonElement word)
    {
        var value = new StringBuilder();
        foreach (var part in word.GetProperty("Parts").EnumerateArray())
        {
            switch (part.GetProperty("Type").GetString())
            {
                case "Lit":
                    var lit = part.GetProperty("Value").GetString()!;
                    for (var i = 0; i < lit.Length; i++)
                    {
                        if (lit[i] == '\\' && i + 1 < lit.Length) { if (lit[i + 1] != '\n') value.Append(lit[i + 1]); i++; }
                        else value.Append(lit[i]);
                    }
                    break;
                case "SglQuoted":
                    var text = part.GetProperty("Value").GetString()!;
                    if (part.TryGetProperty("Dollar", out var dollar) && dollar.GetBoolean()) value.Append(DecodeAnsi(text));
                    else value.Append(text);
                    break;
                case "DblQuoted":
                    if (!part.TryGetProperty("Parts", out var inner)) break;
                    foreach (var piece in inner.EnumerateArray())
                    {
                        if (piece.GetProperty("Type").GetString() != "Lit") return null;
                        var quoted = piece.GetProperty("Value").GetString()!;
                        for (var i = 0; i < quoted.Length; i++)
                        {
                            if (quoted[i] == '\\' && i + 1 < quoted.Length && quoted[i + 1] is '$' or '`' or '"' or '\\' or '\n')
                            { if (quoted[i + 1] != '\n') value.Append(quoted[i + 1]); i++; }
                            else value.Append(quoted[i]);
                        }
                    }
                    break;
                default:
                    return null;
            }
        }
        return value.ToString();
    }

    private static string DecodeAnsi(string text)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\' || i + 1 >= text.Length) { result.Append(text[i]); continue; }
            var c = text[++i];
            if (c == 'x')
            {
                var hex = new string(text.Skip(i + 1).Take(2).TakeWhile(char.IsAsciiHexDigit).ToArray());
                if (hex.Length == 0) { result.Append("\\x"); continue; }
                result.Append((char)Convert.ToInt32(hex, 16));
                i += hex.Length;
            }
            else if (c is >= '0' and <= '7')
            {
                var octal = new string(text.Skip(i).Take(3).TakeWhile(ch => ch is >= '0' and <= '7').ToArray());
                result.Append((char)Convert.ToInt32(octal, 8));
                i += octal.Length - 1;
            }
            else result.Append(c switch { 'n' => '\n', 't' => '\t', _ => c });
        }
        return result.ToString();
    }

    private static string? Shfmt(string script)
    {
        var start = new ProcessStartInfo("shfmt", ["-ln", "bash", "--to-json"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("shfmt is not installed (Debian package shfmt; scripts/servers.sh install adds it)", ex);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(script);
            process.StandardInput.Close();
            process.WaitForExit();
            return process.ExitCode == 0 ? output.Result : null;
        }
    }

    private static string Show(string line) => JsonSerializer.Serialize(line);

    /// <summary>A seeded generator of command lines mixing everything the shell reads specially.</summary>
    private sealed class CommandGenerator(Random random)
    {
        private static readonly string[] Programs = ["ls", "cat", "echo", "grep", "curl", "id", "sort", "head", "wget", "printf", "wc", "nc", "tail", "uname"];
        private static readonly string[] Literals = ["a", "/etc/passwd", "-la", "-n", "5", "x.log", "--color=auto", "/var/log/syslog", "b=c", "%s", "--", "-"];
        private static readonly string[] Controls = ["\r", "\u001b", "\v", "\f", "\u0007", "\u200b", "\u202e", "\u0085"];

        private int _depth;

        private T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];
        private bool Chance(int percent) => random.Next(100) < percent;

        public string Line()
        {
            _depth = 0;
            var line = List();
            if (Chance(8)) line += " # " + Word();
            // A here-document's body starts on the next line and ends at its delimiter alone on a line.
            if (Chance(12)) line += "\n" + HereDocument();
            if (Chance(4))
            {
                var at = random.Next(line.Length + 1);
                line = line[..at] + Pick(Controls) + line[at..];
            }
            return line;
        }

        private string List()
        {
            var text = Pipeline();
            var more = random.Next(3);
            for (var i = 0; i < more; i++) text += Pick(["; ", " && ", " || ", " & ", "\n"]) + Pipeline();
            return text;
        }

        private string Pipeline()
        {
            var text = Command();
            var more = Chance(30) ? random.Next(1, 3) : 0;
            for (var i = 0; i < more; i++) text += Pick([" | ", " |& "]) + Command();
            return text;
        }

        private string Command()
        {
            _depth++;
            try
            {
                if (_depth > 3) return Simple();
                return random.Next(100) switch
                {
                    < 60 => Simple(),
                    < 65 => "(" + List() + ")",
                    < 70 => "{ " + List() + "; }",
                    < 74 => "if " + Pipeline() + "; then " + List() + "; fi",
                    < 77 => "while " + Pipeline() + "; do " + List() + "; done",
                    < 80 => "for i in " + Word() + " " + Word() + "; do " + List() + "; done",
                    < 83 => "f() { " + List() + "; }; f",
                    < 86 => "[[ -n " + Word() + " ]] && " + Simple(),
                    < 93 => "time " + Simple(),
                    < 95 => "! " + Simple(),
                    _ => Simple(),
                };
            }
            finally { _depth--; }
        }

        private string HereDocument()
        {
            var quoted = Chance(40);
            var body = $"line {Word()}\n{(Chance(50) ? "$(" + Simple() + ")" : "`" + Program() + "`")} tail\n";
            return $"{Program()} <<{(Chance(20) ? "-" : "")}{(quoted ? "'EOF'" : "EOF")}\n{body}EOF";
        }

        private string Simple()
        {
            var text = new StringBuilder();
            if (Chance(15)) text.Append(Pick(["X=1 ", "PATH=/tmp ", "y=$(" + Program() + ") ", "LANG=C ", "z=\"a b\" "]));
            text.Append(Program());
            var words = random.Next(4);
            for (var i = 0; i < words; i++) text.Append(' ').Append(Word());
            if (Chance(20)) text.Append(' ').Append(Pick(["> /tmp/x", "2>&1", "< /etc/hosts", ">> /tmp/y", "<<< " + Word(), "&> /dev/null", "2>/dev/null", ">&2"]));
            return text.ToString();
        }

        private string Program() => random.Next(100) switch
        {
            < 70 => Pick(Programs),
            < 74 => "'" + Pick(Programs) + "'",
            < 78 => Pick(Programs) is var p && p.Length > 1 ? p[0] + "\\" + p[1..] : p,
            < 81 => "\"" + Pick(Programs)[..1] + "\"" + Pick(Programs)[1..],
            < 84 => "$'\\x63'url",
            < 87 => "/usr/bin/" + Pick(Programs),
            < 90 => "$X",
            < 92 => "${X}",
            < 94 => "$(echo " + Pick(Programs) + ")",
            < 96 => "`echo " + Pick(Programs) + "`",
            < 98 => "env " + Pick(Programs),
            _ => "command " + Pick(Programs),
        };

        private string Nested()
        {
            _depth++;
            try { return _depth > 3 ? Pick(Programs) : Pipeline(); }
            finally { _depth--; }
        }

        private string Word() => random.Next(100) switch
        {
            < 35 => Pick(Literals),
            < 40 => "\"" + Pick(Literals) + " $x\"",
            < 44 => "'" + Pick(Literals) + " $(curl x)'",
            < 48 => "$x",
            < 51 => "${x}",
            < 55 => "${x:-" + Pick(["a", "$(" + Nested() + ")", "`" + Pick(Programs) + "`", "${y:-$(" + Pick(Programs) + ")}"]) + "}",
            < 58 => "${x" + Pick(["#", "%", "##", ":=", ":+", "/a/"]) + "$(" + Pick(Programs) + ")}",
            < 64 => "$(" + Nested() + ")",
            < 68 => "`" + Pick(Programs) + " " + Pick(Literals) + "`",
            < 71 => "\"$(" + Nested() + ")\"",
            < 73 => "$((1+2))",
            < 75 => "$((x))",
            < 77 => "$(( $(" + Pick(Programs) + ") ))",
            < 80 => "*.log",
            < 82 => "{a,b}",
            < 84 => "~/x",
            < 86 => "a\\ b",
            < 88 => "<(" + Nested() + ")",
            < 90 => "$'a\\tb'",
            < 92 => "\"a'b\"",
            < 94 => "'a\"b'",
            < 96 => "x=$(" + Pick(Programs) + ")",
            _ => "\"${x:-$(" + Pick(Programs) + ")}\"",
        };
    }
}
