namespace Portcullis.Policy.Analysis.Shell;

/// <summary>What a sed script does besides editing its input: commands it runs, files it writes and reads.</summary>
public sealed record SedEffects(bool RunsCommands, bool Unreadable, IReadOnlyList<string> WrittenFiles, IReadOnlyList<string> ReadFiles);

/// <summary>Reads a (GNU) sed script command by command: addresses, then one command and its arguments.</summary>
public static class SedScript
{
    public static SedEffects Effects(string script)
    {
        var runs = false;
        var written = new List<string>();
        var read = new List<string>();
        var i = 0;
        try
        {
            while (i < script.Length)
            {
                var c = script[i];
                if (char.IsWhiteSpace(c) || c is ';' or '}' ) { i++; continue; }
                if (c == '#') { i = LineEnd(script, i); continue; }
                i = SkipAddress(script, i);
                while (i < script.Length && (script[i] is ' ' or '\t' or '!')) i++;
                if (i >= script.Length) break;
                c = script[i++];
                switch (c)
                {
                    case '{': break;
                    case 's':
                    {
                        var delimiter = script[i++];
                        i = SkipDelimited(script, i, delimiter);
                        i = SkipDelimited(script, i, delimiter);
                        // Flags: g p i I m M e (run) w FILE (write), numbers.
                        while (i < script.Length && script[i] is not (';' or '\n' or '}'))
                        {
                            if (script[i] == 'e') runs = true;
                            if (script[i] == 'w') { written.Add(script[(i + 1)..LineEnd(script, i)].Trim()); i = LineEnd(script, i); break; }
                            i++;
                        }
                        break;
                    }
                    case 'y':
                    {
                        var delimiter = script[i++];
                        i = SkipDelimited(script, i, delimiter);
                        i = SkipDelimited(script, i, delimiter);
                        break;
                    }
                    case 'e':
                        runs = true;
                        i = LineEnd(script, i);
                        break;
                    case 'w' or 'W':
                        written.Add(script[i..LineEnd(script, i)].Trim());
                        i = LineEnd(script, i);
                        break;
                    case 'r' or 'R':
                        read.Add(script[i..LineEnd(script, i)].Trim());
                        i = LineEnd(script, i);
                        break;
                    case 'a' or 'i' or 'c':
                        i = LineEnd(script, i);
                        break;
                    case 'b' or 't' or 'T' or ':':
                        while (i < script.Length && script[i] is not (';' or '\n')) i++;
                        break;
                    case 'q' or 'Q' or 'l' or 'L':
                        while (i < script.Length && (char.IsAsciiDigit(script[i]) || script[i] == ' ')) i++;
                        break;
                    case '=' or 'd' or 'D' or 'g' or 'G' or 'h' or 'H' or 'n' or 'N' or 'p' or 'P' or 'x' or 'z' or 'F':
                        break;
                    default:
                        return new SedEffects(runs, true, written, read);
                }
            }
        }
        catch (IndexOutOfRangeException)
        {
            return new SedEffects(runs, true, written, read);
        }
        catch (ArgumentOutOfRangeException)
        {
            return new SedEffects(runs, true, written, read);
        }
        return new SedEffects(runs, false, written, read);
    }

    private static int LineEnd(string script, int i)
    {
        var end = script.IndexOf('\n', i);
        return end < 0 ? script.Length : end;
    }

    private static int SkipDelimited(string script, int i, char delimiter)
    {
        while (script[i] != delimiter)
        {
            if (script[i] == '\\') i++;
            i++;
        }
        return i + 1;
    }

    private static int SkipAddress(string script, int i)
    {
        while (i < script.Length)
        {
            var c = script[i];
            if (char.IsAsciiDigit(c) || c is '$' or ',' or '~' or '+' or ' ') { i++; continue; }
            if (c == '/') { i = SkipDelimited(script, i + 1, '/'); if (i < script.Length && script[i] is 'I' or 'M') i++; continue; }
            if (c == '\\' && i + 1 < script.Length) { var d = script[i + 1]; i = SkipDelimited(script, i + 2, d); continue; }
            break;
        }
        return i;
    }
}
