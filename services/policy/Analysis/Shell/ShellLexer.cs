using System.Text;

namespace Portcullis.Policy.Analysis.Shell;

public enum ShellTokenKind { Word, Operator, Redirection }

/// <summary>
/// A word after quote removal, with what the shell would still do to it: <see cref="Substitutions"/> are
/// the commands inside <c>$(...)</c>, backticks and <c>&lt;(...)</c>, run before the word is used;
/// <see cref="HasExpansion"/> is set when a variable, arithmetic or glob makes the word's value unknown.
/// </summary>
public sealed record ShellToken(ShellTokenKind Kind, string Value, bool HasExpansion = false, bool Quoted = false,
    IReadOnlyList<string>? Substitutions = null)
{
    public IReadOnlyList<string> Substitutions { get; init; } = Substitutions ?? [];
}

public sealed class ShellSyntaxException(string message) : Exception(message);

/// <summary>
/// Splits a command line the way a POSIX shell does: quotes (single, double, $'...'), backslash escapes,
/// the operators ; &amp; &amp;&amp; || | |&amp; ( ) and newlines, redirections with their file descriptors, and
/// command substitutions kept whole for the analyser to read recursively.
/// </summary>
public static class ShellLexer
{
    private static readonly string[] Operators = ["&&", "||", ";;", "|&", ";", "&", "|", "(", ")", "\n"];
    private static readonly string[] Redirections = ["<<<", "<<-", "&>>", "<<", ">>", "<&", ">&", "<>", ">|", "&>", "<", ">"];

    public static IReadOnlyList<ShellToken> Tokenize(string input)
    {
        var tokens = new List<ShellToken>();
        var i = 0;
        while (i < input.Length)
        {
            var c = input[i];
            if (c is ' ' or '\t' or '\r') { i++; continue; }
            if (c == '\\' && i + 1 < input.Length && input[i + 1] == '\n') { i += 2; continue; } // line continuation
            if (c == '#') // a comment runs to the end of the line
            {
                while (i < input.Length && input[i] != '\n') i++;
                continue;
            }

            // Process substitution <(...) and >(...) is a word made of a command.
            if (c is '<' or '>' && i + 1 < input.Length && input[i + 1] == '(')
            {
                var end = MatchingParen(input, i + 1);
                tokens.Add(new ShellToken(ShellTokenKind.Word, "", HasExpansion: true, Substitutions: [input[(i + 2)..end]]));
                i = end + 1;
                continue;
            }

            // Redirection, with an optional file descriptor number in front (2>, 1>&2).
            var digits = 0;
            while (i + digits < input.Length && char.IsAsciiDigit(input[i + digits])) digits++;
            var redirection = Redirections.FirstOrDefault(r => string.CompareOrdinal(input, i + digits, r, 0, r.Length) == 0);
            if (redirection is not null && (digits == 0 || IsWordBoundary(input, i)))
            {
                tokens.Add(new ShellToken(ShellTokenKind.Redirection, redirection));
                i += digits + redirection.Length;
                continue;
            }

            var op = Operators.FirstOrDefault(o => string.CompareOrdinal(input, i, o, 0, o.Length) == 0);
            if (op is not null)
            {
                tokens.Add(new ShellToken(ShellTokenKind.Operator, op));
                i += op.Length;
                continue;
            }

            tokens.Add(ReadWord(input, ref i));
        }
        return tokens;
    }

    private static bool IsWordBoundary(string input, int i) => i == 0 || input[i - 1] is ' ' or '\t' or '\n' or ';' or '&' or '|' or '(';

    private static ShellToken ReadWord(string input, ref int i)
    {
        var value = new StringBuilder();
        var substitutions = new List<string>();
        var expansion = false;
        var quoted = false;
        while (i < input.Length)
        {
            var c = input[i];
            if (c is ' ' or '\t' or '\r' or '\n' or ';' or '&' or '|' or '(' or ')' or '<' or '>') break;
            switch (c)
            {
                case '\\':
                    if (i + 1 >= input.Length) throw new ShellSyntaxException("a backslash ends the command");
                    if (input[i + 1] != '\n') value.Append(input[i + 1]);
                    i += 2;
                    quoted = true;
                    break;
                case '\'':
                {
                    var end = input.IndexOf('\'', i + 1);
                    if (end < 0) throw new ShellSyntaxException("a single quote is not closed");
                    value.Append(input, i + 1, end - i - 1);
                    i = end + 1;
                    quoted = true;
                    break;
                }
                case '"':
                    i++;
                    ReadDoubleQuoted(input, ref i, value, substitutions, ref expansion);
                    quoted = true;
                    break;
                case '$':
                    ReadDollar(input, ref i, value, substitutions, ref expansion);
                    break;
                case '`':
                {
                    var end = ClosingBacktick(input, i);
                    substitutions.Add(input[(i + 1)..end].Replace("\\`", "`"));
                    expansion = true;
                    i = end + 1;
                    break;
                }
                case '*' or '?' or '[':
                    expansion = true; // a glob: the word's value depends on the file system
                    value.Append(c);
                    i++;
                    break;
                case '{' when i + 1 < input.Length && input.IndexOf('}', i) > i && input.AsSpan(i, input.IndexOf('}', i) - i).Contains(','):
                    expansion = true; // brace expansion: one word becomes several
                    value.Append(c);
                    i++;
                    break;
                default:
                    value.Append(c);
                    i++;
                    break;
            }
        }
        return new ShellToken(ShellTokenKind.Word, value.ToString(), expansion, quoted, substitutions);
    }

    private static void ReadDoubleQuoted(string input, ref int i, StringBuilder value, List<string> substitutions, ref bool expansion)
    {
        while (true)
        {
            if (i >= input.Length) throw new ShellSyntaxException("a double quote is not closed");
            var c = input[i];
            if (c == '"') { i++; return; }
            if (c == '\\' && i + 1 < input.Length && input[i + 1] is '$' or '`' or '"' or '\\' or '\n')
            {
                if (input[i + 1] != '\n') value.Append(input[i + 1]);
                i += 2;
            }
            else if (c == '$') ReadDollar(input, ref i, value, substitutions, ref expansion);
            else if (c == '`')
            {
                var end = ClosingBacktick(input, i);
                substitutions.Add(input[(i + 1)..end].Replace("\\`", "`"));
                expansion = true;
                i = end + 1;
            }
            else { value.Append(c); i++; }
        }
    }

    private static void ReadDollar(string input, ref int i, StringBuilder value, List<string> substitutions, ref bool expansion)
    {
        var next = i + 1 < input.Length ? input[i + 1] : '\0';
        if (next == '(' && i + 2 < input.Length && input[i + 2] == '(')
        {
            var end = MatchingParen(input, i + 1); // $(( arithmetic )): a value, but an unknown one
            expansion = true;
            i = end + 1;
        }
        else if (next == '(')
        {
            var end = MatchingParen(input, i + 1);
            substitutions.Add(input[(i + 2)..end]);
            expansion = true;
            i = end + 1;
        }
        else if (next == '{')
        {
            var end = input.IndexOf('}', i + 2);
            if (end < 0) throw new ShellSyntaxException("a ${ is not closed");
            expansion = true;
            i = end + 1;
        }
        else if (next == '\'')
        {
            // $'...' ANSI-C quoting: escapes such as \x63 spell any program name, so they are decoded.
            var end = i + 2;
            var text = new StringBuilder();
            while (end < input.Length && input[end] != '\'')
            {
                if (input[end] == '\\' && end + 1 < input.Length) end = DecodeAnsiEscape(input, end, text);
                else text.Append(input[end++]);
            }
            if (end >= input.Length) throw new ShellSyntaxException("a $' quote is not closed");
            value.Append(text);
            i = end + 1;
        }
        else if (char.IsAsciiLetterOrDigit(next) || next is '_' or '@' or '*' or '#' or '?' or '$' or '!' or '-')
        {
            expansion = true;
            i += 2;
            if (char.IsAsciiLetter(next) || next == '_')
                while (i < input.Length && (char.IsAsciiLetterOrDigit(input[i]) || input[i] == '_')) i++;
        }
        else
        {
            value.Append('$');
            i++;
        }
    }

    private static int DecodeAnsiEscape(string input, int at, StringBuilder text)
    {
        var c = input[at + 1];
        switch (c)
        {
            case 'x':
            {
                var hex = new string(input.Skip(at + 2).Take(2).TakeWhile(char.IsAsciiHexDigit).ToArray());
                if (hex.Length == 0) { text.Append("\\x"); return at + 2; }
                text.Append((char)Convert.ToInt32(hex, 16));
                return at + 2 + hex.Length;
            }
            case >= '0' and <= '7':
            {
                var octal = new string(input.Skip(at + 1).Take(3).TakeWhile(ch => ch is >= '0' and <= '7').ToArray());
                text.Append((char)Convert.ToInt32(octal, 8));
                return at + 1 + octal.Length;
            }
            case 'n': text.Append('\n'); return at + 2;
            case 't': text.Append('\t'); return at + 2;
            default: text.Append(c); return at + 2;
        }
    }

    private static int ClosingBacktick(string input, int start)
    {
        for (var i = start + 1; i < input.Length; i++)
        {
            if (input[i] == '\\') { i++; continue; }
            if (input[i] == '`') return i;
        }
        throw new ShellSyntaxException("a backtick is not closed");
    }

    /// <summary>The index of the ')' that closes the '(' at <paramref name="open"/>, minding quotes and nesting.</summary>
    private static int MatchingParen(string input, int open)
    {
        var depth = 0;
        for (var i = open; i < input.Length; i++)
        {
            switch (input[i])
            {
                case '\\': i++; break;
                case '\'':
                    i = input.IndexOf('\'', i + 1);
                    if (i < 0) throw new ShellSyntaxException("a single quote is not closed");
                    break;
                case '"':
                    for (i++; i < input.Length && input[i] != '"'; i++) if (input[i] == '\\') i++;
                    if (i >= input.Length) throw new ShellSyntaxException("a double quote is not closed");
                    break;
                case '(': depth++; break;
                case ')':
                    if (--depth == 0) return i;
                    break;
            }
        }
        throw new ShellSyntaxException("a '(' is not closed");
    }
}
