using System.Text;

namespace Portcullis.Policy.Analysis.Shell;

public enum ShellTokenKind { Word, Operator, Redirection }

/// <summary>
/// A word after quote removal, with what the shell would still do to it: <see cref="Substitutions"/> are
/// the commands inside <c>$(...)</c>, backticks and <c>&lt;(...)</c> (also inside <c>${...}</c> and unquoted
/// here-document bodies), run before the word is used; <see cref="HasExpansion"/> is set when a variable,
/// substitution, glob or brace makes the word's value unknown. <see cref="Pattern"/> is the word as the set
/// of strings it can become: quoted glob characters escaped with '\', unquoted globs and braces kept, every
/// value known only at run time written as <c>**</c> (any text, '/' included), and a leading <c>~</c> or
/// <c>$HOME</c> as <c>~</c>.
/// </summary>
public sealed record ShellToken(ShellTokenKind Kind, string Value, bool HasExpansion = false, bool Quoted = false,
    IReadOnlyList<string>? Substitutions = null)
{
    public IReadOnlyList<string> Substitutions { get; init; } = Substitutions ?? [];

    public string Pattern { get; init; } = ShellLexer.EscapePattern(Value);

    /// <summary>For a here-document (&lt;&lt; or &lt;&lt;-), its body; null for other tokens.</summary>
    public string? HereDocument { get; init; }

    /// <summary>How many characters of <see cref="Value"/> come before the first quote or expansion: NAME= must be among them for an assignment.</summary>
    public int UnquotedPrefix { get; init; } = int.MaxValue;
}

public sealed class ShellSyntaxException(string message) : Exception(message);

/// <summary>
/// Splits a command line the way a POSIX shell (and bash) does: quotes (single, double, $'...'), backslash
/// escapes, the operators ; &amp; &amp;&amp; || | |&amp; ( ) and newlines, redirections with their file descriptors,
/// here-documents with their bodies, and command substitutions kept whole for the analyser to read
/// recursively, wherever they stand (inside <c>${x:-...}</c>, here-documents, process substitutions).
/// Arithmetic that bash could turn into a command (anything but constant numbers) is refused here.
/// </summary>
public static class ShellLexer
{
    private static readonly string[] Operators = ["&&", "||", ";;&", ";;", ";&", "|&", ";", "&", "|", "(", ")", "\n"];
    private static readonly string[] Redirections = ["<<<", "<<-", "&>>", "<<", ">>", "<&", ">&", "<>", ">|", "&>", "<", ">"];

    private const string GlobCharacters = "*?[]{}\\,~";

    public static string EscapePattern(string literal)
    {
        if (literal.AsSpan().IndexOfAny(GlobCharacters) < 0) return literal;
        var text = new StringBuilder(literal.Length + 4);
        foreach (var c in literal)
        {
            if (GlobCharacters.Contains(c)) text.Append('\\');
            text.Append(c);
        }
        return text.ToString();
    }

    public static IReadOnlyList<ShellToken> Tokenize(string input)
    {
        var tokens = new List<ShellToken>();
        var pendingHereDocuments = new List<int>(); // indexes of "<<" tokens whose body follows the next newline
        var i = 0;
        while (i < input.Length)
        {
            var c = input[i];
            if (c is ' ' or '\t') { i++; continue; }
            if (c == '\\' && i + 1 < input.Length && input[i + 1] == '\n') { i += 2; continue; } // line continuation
            if (c == '#') // a comment runs to the end of the line
            {
                while (i < input.Length && input[i] != '\n') i++;
                continue;
            }
            if (c == '\n' && pendingHereDocuments.Count > 0)
            {
                tokens.Add(new ShellToken(ShellTokenKind.Operator, "\n"));
                i++;
                foreach (var index in pendingHereDocuments) tokens[index + 1] = ReadHereDocument(input, ref i, tokens[index], tokens[index + 1]);
                pendingHereDocuments.Clear();
                continue;
            }

            // Process substitution <(...) and >(...) is a word made of a command.
            if (c is '<' or '>' && i + 1 < input.Length && input[i + 1] == '(')
            {
                var end = MatchingParen(input, i + 1);
                tokens.Add(new ShellToken(ShellTokenKind.Word, "", HasExpansion: true, Substitutions: [input[(i + 2)..end]]) { Pattern = "**" });
                i = end + 1;
                continue;
            }

            // (( arithmetic )) as a command: bash evaluates it, and variables in it can run commands.
            if (c == '(' && i + 1 < input.Length && input[i + 1] == '(' && IsCommandStart(tokens))
            {
                var end = MatchingParen(input, i);
                CheckArithmetic(input[(i + 1)..end]);
                tokens.Add(new ShellToken(ShellTokenKind.Word, ":")); // runs nothing but the (constant) arithmetic
                i = end + 1;
                continue;
            }

            // Redirection, with an optional file descriptor number ({name} in bash) in front (2>, 1>&2, {fd}>x).
            var digits = 0;
            while (i + digits < input.Length && char.IsAsciiDigit(input[i + digits])) digits++;
            var redirection = Redirections.FirstOrDefault(r => string.CompareOrdinal(input, i + digits, r, 0, r.Length) == 0);
            if (redirection is not null && (digits == 0 || IsWordBoundary(input, i)))
            {
                tokens.Add(new ShellToken(ShellTokenKind.Redirection, redirection));
                i += digits + redirection.Length;
                if (redirection is "<<" or "<<-") pendingHereDocuments.Add(tokens.Count - 1);
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
        if (pendingHereDocuments.Count > 0)
        {
            // bash takes a here-document without a following line as empty; nothing in it runs.
            foreach (var index in pendingHereDocuments)
            {
                if (index + 1 >= tokens.Count || tokens[index + 1].Kind != ShellTokenKind.Word)
                    throw new ShellSyntaxException("a here-document has no delimiter");
                tokens[index + 1] = tokens[index + 1] with { HereDocument = "" };
            }
        }
        return tokens;
    }

    private static bool IsCommandStart(List<ShellToken> tokens) =>
        tokens.Count == 0 || tokens[^1].Kind == ShellTokenKind.Operator ||
        tokens[^1] is { Kind: ShellTokenKind.Word, Quoted: false, Value: "do" or "then" or "else" or "elif" or "{" or "!" or "time" or "for" or "coproc" or "-p" };

    private static bool IsWordBoundary(string input, int i) => i == 0 || input[i - 1] is ' ' or '\t' or '\n' or ';' or '&' or '|' or '(' or ')';

    /// <summary>The body of a here-document, from the current position to the line that is its delimiter.</summary>
    private static ShellToken ReadHereDocument(string input, ref int i, ShellToken redirection, ShellToken delimiter)
    {
        if (delimiter.Kind != ShellTokenKind.Word) throw new ShellSyntaxException("a here-document has no delimiter");
        if (delimiter.Substitutions.Count > 0) throw new ShellSyntaxException("a here-document delimiter holds a substitution");
        var stripTabs = redirection.Value == "<<-";
        var body = new StringBuilder();
        while (i < input.Length)
        {
            var end = input.IndexOf('\n', i);
            var line = end < 0 ? input[i..] : input[i..end];
            i = end < 0 ? input.Length : end + 1;
            var compared = stripTabs ? line.TrimStart('\t') : line;
            if (compared == delimiter.Value) break;
            body.Append(compared).Append('\n');
        }
        var text = body.ToString();
        var substitutions = new List<string>();
        var expansion = false;
        // An unquoted delimiter means the body is expanded like a double-quoted word: its substitutions run.
        if (!delimiter.Quoted) ScanExpansions(text, substitutions, ref expansion, hereDocument: true);
        return delimiter with { HereDocument = text, Substitutions = [.. delimiter.Substitutions, .. substitutions] };
    }

    private static ShellToken ReadWord(string input, ref int i)
    {
        var value = new StringBuilder();
        var pattern = new StringBuilder();
        var substitutions = new List<string>();
        var expansion = false;
        var quoted = false;
        var start = i;
        var unquotedPrefix = int.MaxValue;
        var braceAt = -1;
        while (i < input.Length)
        {
            var c = input[i];
            if (c is ' ' or '\t' or '\n' or ';' or '&' or '|' or '(' or ')' or '<' or '>') break;
            if (c is '\\' or '\'' or '"' or '$' or '`' && unquotedPrefix == int.MaxValue) unquotedPrefix = value.Length;
            switch (c)
            {
                case '\\':
                    if (i + 1 >= input.Length) throw new ShellSyntaxException("a backslash ends the command");
                    if (input[i + 1] != '\n') Literal(input[i + 1], value, pattern);
                    i += 2;
                    quoted = true;
                    break;
                case '\'':
                {
                    var end = input.IndexOf('\'', i + 1);
                    if (end < 0) throw new ShellSyntaxException("a single quote is not closed");
                    foreach (var ch in input.AsSpan(i + 1, end - i - 1)) Literal(ch, value, pattern);
                    i = end + 1;
                    quoted = true;
                    break;
                }
                case '"':
                    i++;
                    ReadDoubleQuoted(input, ref i, value, pattern, substitutions, ref expansion);
                    quoted = true;
                    break;
                case '$':
                    ReadDollar(input, ref i, value, pattern, substitutions, ref expansion, atWordStart: i == start, quoted: false);
                    break;
                case '`':
                {
                    var end = ClosingBacktick(input, i);
                    substitutions.Add(Unescape(input[(i + 1)..end]));
                    expansion = true;
                    pattern.Append("**");
                    i = end + 1;
                    break;
                }
                case '*' or '?' or '[':
                    expansion = true; // a glob: the word's value depends on the file system
                    value.Append(c);
                    pattern.Append(c);
                    i++;
                    break;
                case ']':
                    value.Append(c);
                    pattern.Append(c); // closes a glob class
                    i++;
                    break;
                case '{' when BraceEnd(input, i) is var braceEnd && braceEnd > i:
                    expansion = true; // brace expansion: one word becomes several
                    value.Append(input, i, braceEnd - i + 1);
                    pattern.Append(BracePattern(input[(i + 1)..braceEnd]));
                    i = braceEnd + 1;
                    break;
                case '{' when braceAt < 0 && QuotedBraceEnd(input, i) > i:
                    // A brace list with quotes or expansions inside ({"sha"dow,x}, {$x,y}): bash expands the braces first.
                    // Its alternatives are not worked out: from here on the word can be anything.
                    expansion = true;
                    braceAt = pattern.Length;
                    value.Append(c);
                    pattern.Append(c);
                    i++;
                    break;
                case '~' when i == start:
                    value.Append(c);
                    pattern.Append('~'); // the home directory (or another user's, for ~name)
                    i++;
                    break;
                default:
                    Literal(c, value, pattern);
                    i++;
                    break;
            }
        }
        if (braceAt >= 0) pattern.Length = braceAt;
        return new ShellToken(ShellTokenKind.Word, value.ToString(), expansion, quoted, substitutions)
            { Pattern = braceAt >= 0 ? pattern.Append("**").ToString() : pattern.ToString(), UnquotedPrefix = unquotedPrefix };
    }

    private static void Literal(char c, StringBuilder value, StringBuilder pattern)
    {
        value.Append(c);
        if (GlobCharacters.Contains(c)) pattern.Append('\\');
        pattern.Append(c);
    }

    /// <summary>The '}' of an unquoted brace expansion starting at <paramref name="open"/> ({a,b} or {1..9}), or -1.</summary>
    private static int BraceEnd(string input, int open)
    {
        var depth = 0;
        var list = false;
        for (var i = open; i < input.Length; i++)
        {
            var c = input[i];
            if (c is ' ' or '\t' or '\n' or ';' or '&' or '|' or '<' or '>' or '(' or ')' or '\'' or '"' or '$' or '`' or '\\') return -1;
            if (c == '{') depth++;
            else if (c == ',' && depth == 1) list = true;
            else if (c == '.' && depth == 1 && i + 1 < input.Length && input[i + 1] == '.') list = true;
            else if (c == '}' && --depth == 0) return list ? i : -1;
        }
        return -1;
    }

    /// <summary>The '}' of a brace expansion that holds quotes, a backslash or an expansion, or -1.</summary>
    private static int QuotedBraceEnd(string input, int open)
    {
        var depth = 0;
        var list = false;
        for (var i = open; i < input.Length; i++)
        {
            var c = input[i];
            if (c is ' ' or '\t' or '\n' or ';' or '&' or '|' or '<' or '>' or '(' or ')') return -1;
            switch (c)
            {
                case '\\': i++; continue;
                case '\'': i = input.IndexOf('\'', i + 1); if (i < 0) return -1; continue;
                case '"': i = ClosingDoubleQuote(input, i); continue;
                case '`': i = ClosingBacktick(input, i); continue;
                case '$' when i + 1 < input.Length && input[i + 1] == '(': i = MatchingParen(input, i + 1); continue;
                case '$' when i + 1 < input.Length && input[i + 1] == '{': i = MatchingBrace(input, i + 1); continue;
                case '{': depth++; break;
                case ',' when depth == 1: list = true; break;
                case '.' when depth == 1 && i + 1 < input.Length && input[i + 1] == '.': list = true; break;
                case '}' when --depth == 0: return list ? i : -1;
            }
        }
        return -1;
    }

    /// <summary>{a,b,c} stays a brace list for the path matcher; a sequence {a..z} becomes '*', which covers it.</summary>
    private static string BracePattern(string inside)
    {
        if (inside.Contains("..", StringComparison.Ordinal) && !inside.Contains(',')) return "*";
        var text = new StringBuilder("{");
        foreach (var c in inside)
        {
            if (c is '{' or '}' or ',') { text.Append(c); continue; }
            if (c is '*' or '?' or '[' or ']') { text.Append(c); continue; }
            if (c == '.') { text.Append(c); continue; }
            if (GlobCharacters.Contains(c)) text.Append('\\');
            text.Append(c);
        }
        return text.Append('}').ToString();
    }

    private static void ReadDoubleQuoted(string input, ref int i, StringBuilder value, StringBuilder pattern, List<string> substitutions, ref bool expansion)
    {
        while (true)
        {
            if (i >= input.Length) throw new ShellSyntaxException("a double quote is not closed");
            var c = input[i];
            if (c == '"') { i++; return; }
            if (c == '\\' && i + 1 < input.Length && input[i + 1] is '$' or '`' or '"' or '\\' or '\n')
            {
                if (input[i + 1] != '\n') Literal(input[i + 1], value, pattern);
                i += 2;
            }
            else if (c == '$') ReadDollar(input, ref i, value, pattern, substitutions, ref expansion, atWordStart: pattern.Length == 0, quoted: true);
            else if (c == '`')
            {
                var end = ClosingBacktick(input, i);
                substitutions.Add(Unescape(input[(i + 1)..end]));
                expansion = true;
                pattern.Append("**");
                i = end + 1;
            }
            else { Literal(c, value, pattern); i++; }
        }
    }

    // Inside backticks, \$ \` \\ stand for the character itself.
    private static string Unescape(string text) => text.Replace("\\`", "`").Replace("\\$", "$").Replace("\\\\", "\\");

    private static void ReadDollar(string input, ref int i, StringBuilder value, StringBuilder pattern, List<string> substitutions,
        ref bool expansion, bool atWordStart, bool quoted)
    {
        var next = i + 1 < input.Length ? input[i + 1] : '\0';
        if (next == '(' && i + 2 < input.Length && input[i + 2] == '(' && ArithmeticEnd(input, i + 1) is var arithmeticEnd && arithmeticEnd > 0)
        {
            CheckArithmetic(input[(i + 3)..(arithmeticEnd - 1)]);
            expansion = true;
            pattern.Append("**");
            i = arithmeticEnd + 1;
        }
        else if (next == '(')
        {
            var end = MatchingParen(input, i + 1);
            substitutions.Add(input[(i + 2)..end]);
            expansion = true;
            pattern.Append("**");
            i = end + 1;
        }
        else if (next == '[')
        {
            // $[ ... ]: bash's old arithmetic expansion.
            var end = input.IndexOf(']', i + 2);
            if (end < 0) throw new ShellSyntaxException("a $[ is not closed");
            CheckArithmetic(input[(i + 2)..end]);
            expansion = true;
            pattern.Append("**");
            i = end + 1;
        }
        else if (next == '{')
        {
            var end = MatchingBrace(input, i + 1);
            var inside = input[(i + 2)..end];
            CheckParameterExpansion(inside, substitutions);
            expansion = true;
            pattern.Append(atWordStart && inside == "HOME" ? "~" : "**");
            i = end + 1;
        }
        else if (next == '\'' && !quoted)
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
            foreach (var ch in text.ToString()) Literal(ch, value, pattern);
            i = end + 1;
        }
        else if (next == '"' && !quoted)
        {
            // $"..." (bash locale translation) is a double-quoted word.
            i += 2;
            ReadDoubleQuoted(input, ref i, value, pattern, substitutions, ref expansion);
        }
        else if (char.IsAsciiLetterOrDigit(next) || next is '_' or '@' or '*' or '#' or '?' or '$' or '!' or '-')
        {
            expansion = true;
            var nameStart = i + 1;
            i += 2;
            if (char.IsAsciiLetter(next) || next == '_')
                while (i < input.Length && (char.IsAsciiLetterOrDigit(input[i]) || input[i] == '_')) i++;
            var name = input[nameStart..i];
            pattern.Append(atWordStart && name == "HOME" ? "~" : "**");
        }
        else
        {
            Literal('$', value, pattern);
            i++;
        }
    }

    /// <summary>
    /// ${...}: the word parts (after :- := :+ :? # % / ^ ,) are scanned for substitutions; the parts bash reads as
    /// arithmetic (subscripts, substring offsets) must be constant, and indirection or @ transformations
    /// (${!x}, ${x@P}, which expand a value again) are refused.
    /// </summary>
    private static void CheckParameterExpansion(string inside, List<string> substitutions)
    {
        if (inside.Length == 0) throw new ShellSyntaxException("an empty ${} is not valid");
        var at = 0;
        if (inside[0] == '#' && inside.Length > 1) at = 1; // ${#x}: the length
        if (inside[at] == '!') throw new ShellSyntaxException("indirect expansion ${!...} expands a value again");
        var nameStart = at;
        if (char.IsAsciiLetter(inside[at]) || inside[at] == '_')
            while (at < inside.Length && (char.IsAsciiLetterOrDigit(inside[at]) || inside[at] == '_')) at++;
        else if (char.IsAsciiDigit(inside[at]))
            while (at < inside.Length && char.IsAsciiDigit(inside[at])) at++;
        else if (inside[at] is '@' or '*' or '#' or '?' or '$' or '!' or '-') at++;
        if (at == nameStart) throw new ShellSyntaxException($"'${{{inside}}}' is not a parameter expansion this analysis reads");
        if (at < inside.Length && inside[at] == '[')
        {
            var close = inside.IndexOf(']', at);
            if (close < 0) throw new ShellSyntaxException("an array subscript is not closed");
            var subscript = inside[(at + 1)..close];
            if (subscript is not ("@" or "*")) CheckArithmetic(subscript);
            at = close + 1;
        }
        if (at >= inside.Length) return;
        var rest = inside[at..];
        if (rest[0] == '@') throw new ShellSyntaxException("${...@...} transforms a value and can expand it again");
        if (rest[0] == ':' && (rest.Length == 1 || rest[1] is not ('-' or '=' or '?' or '+')))
        {
            // ${x:offset:length}: both are arithmetic.
            foreach (var part in rest[1..].Split(':')) CheckArithmetic(part);
            return;
        }
        if (rest[0] is not (':' or '-' or '=' or '?' or '+' or '#' or '%' or '/' or '^' or ','))
            throw new ShellSyntaxException($"'${{{inside}}}' is not a parameter expansion this analysis reads");
        var expansion = false;
        ScanExpansions(rest, substitutions, ref expansion, hereDocument: false);
    }

    /// <summary>
    /// Finds every substitution in text that the shell expands (a ${...} word, an unquoted here-document body),
    /// checking nested ${...} and arithmetic the same way as in a word.
    /// </summary>
    private static void ScanExpansions(string text, List<string> substitutions, ref bool expansion, bool hereDocument)
    {
        var value = new StringBuilder();
        var pattern = new StringBuilder();
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '\\') { i += 2; continue; }
            if (c == '\'' && !hereDocument)
            {
                var end = text.IndexOf('\'', i + 1);
                if (end < 0) throw new ShellSyntaxException("a single quote is not closed");
                i = end + 1;
                continue;
            }
            if (c == '"' && !hereDocument)
            {
                i++;
                ReadDoubleQuoted(text, ref i, value, pattern, substitutions, ref expansion);
                continue;
            }
            if (c == '$') { ReadDollar(text, ref i, value, pattern, substitutions, ref expansion, atWordStart: false, quoted: true); continue; }
            if (c == '`')
            {
                var end = ClosingBacktick(text, i);
                substitutions.Add(Unescape(text[(i + 1)..end]));
                expansion = true;
                i = end + 1;
                continue;
            }
            if (c == '<' || c == '>')
            {
                // <(...) inside ${x:-<(...)} is not a process substitution in bash, but refusing costs nothing.
                if (i + 1 < text.Length && text[i + 1] == '(') throw new ShellSyntaxException("a process substitution inside an expansion");
            }
            i++;
        }
    }

    /// <summary>
    /// bash evaluates every name in arithmetic as an expression of its own, and array subscripts met there
    /// expand, so $(( x )) with x='a[$(id)]' runs id. Only constant arithmetic is let through.
    /// </summary>
    private static void CheckArithmetic(string expression)
    {
        for (var i = 0; i < expression.Length; i++)
        {
            var c = expression[i];
            if (char.IsAsciiDigit(c))
            {
                // A number: 42, 0x2a, 052, 16#2a, 64#_@z.
                while (i + 1 < expression.Length && (char.IsAsciiLetterOrDigit(expression[i + 1]) || expression[i + 1] is '#' or '@' or '_')) i++;
                continue;
            }
            if (c is ' ' or '\t' or '\n' or '+' or '-' or '*' or '/' or '%' or '(' or ')' or '<' or '>' or '='
                or '!' or '&' or '|' or '^' or '~' or '?' or ':' or ',')
                continue;
            throw new ShellSyntaxException("arithmetic over variables or substitutions can run commands in bash; only constant arithmetic is analysed");
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
            case 'u' or 'U':
            {
                var hex = new string(input.Skip(at + 2).Take(c == 'u' ? 4 : 8).TakeWhile(char.IsAsciiHexDigit).ToArray());
                if (hex.Length == 0) { text.Append('\\').Append(c); return at + 2; }
                var code = Convert.ToInt32(hex, 16);
                text.Append(code is >= 0 and <= 0x10FFFF and not (>= 0xD800 and <= 0xDFFF) ? char.ConvertFromUtf32(code) : "\uFFFD");
                return at + 2 + hex.Length;
            }
            case 'c':
            {
                // \cX: a control character.
                if (at + 2 < input.Length) { text.Append((char)(input[at + 2] & 0x1f)); return at + 3; }
                text.Append("\\c");
                return at + 2;
            }
            case >= '0' and <= '7':
            {
                var octal = new string(input.Skip(at + 1).Take(3).TakeWhile(ch => ch is >= '0' and <= '7').ToArray());
                text.Append((char)Convert.ToInt32(octal, 8));
                return at + 1 + octal.Length;
            }
            case 'n': text.Append('\n'); return at + 2;
            case 't': text.Append('\t'); return at + 2;
            case 'r': text.Append('\r'); return at + 2;
            case 'a': text.Append('\a'); return at + 2;
            case 'b': text.Append('\b'); return at + 2;
            case 'e' or 'E': text.Append('\x1b'); return at + 2;
            case 'f': text.Append('\f'); return at + 2;
            case 'v': text.Append('\v'); return at + 2;
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

    /// <summary>For $(( at <paramref name="open"/> (the first '('): the index of the closing "))", or -1 when it is $( (...) ).</summary>
    private static int ArithmeticEnd(string input, int open)
    {
        var end = MatchingParen(input, open);
        return input[end - 1] == ')' && MatchingParen(input, open + 1) == end - 1 ? end : -1;
    }

    /// <summary>The index of the '}' that closes the '{' at <paramref name="open"/>, minding quotes, nesting and substitutions.</summary>
    private static int MatchingBrace(string input, int open)
    {
        var depth = 0;
        for (var i = open; i < input.Length; i++)
        {
            if (SkipQuoted(input, ref i)) continue;
            switch (input[i])
            {
                case '$' when i + 1 < input.Length && input[i + 1] == '(': i = MatchingParen(input, i + 1); break;
                case '{': depth++; break;
                case '}':
                    if (--depth == 0) return i;
                    break;
            }
        }
        throw new ShellSyntaxException("a ${ is not closed");
    }

    /// <summary>
    /// At an escape, a quote or a backtick: moves <paramref name="i"/> to the last character it covers (the escaped
    /// character, the closing quote or backtick) and says so; at anything else, leaves it where it is.
    /// </summary>
    private static bool SkipQuoted(string input, ref int i)
    {
        switch (input[i])
        {
            case '\\': i++; return true;
            case '\'':
                i = input.IndexOf('\'', i + 1);
                if (i < 0) throw new ShellSyntaxException("a single quote is not closed");
                return true;
            case '"': i = ClosingDoubleQuote(input, i); return true;
            case '`': i = ClosingBacktick(input, i); return true;
            default: return false;
        }
    }

    private static int ClosingDoubleQuote(string input, int open)
    {
        for (var i = open + 1; i < input.Length; i++)
        {
            switch (input[i])
            {
                case '\\': i++; break;
                case '"': return i;
                case '`': i = ClosingBacktick(input, i); break;
                case '$' when i + 1 < input.Length && input[i + 1] == '(': i = MatchingParen(input, i + 1); break;
                case '$' when i + 1 < input.Length && input[i + 1] == '{': i = MatchingBrace(input, i + 1); break;
            }
        }
        throw new ShellSyntaxException("a double quote is not closed");
    }

    /// <summary>The index of the ')' that closes the '(' at <paramref name="open"/>, minding quotes, nesting and comments.</summary>
    private static int MatchingParen(string input, int open)
    {
        var depth = 0;
        for (var i = open; i < input.Length; i++)
        {
            if (SkipQuoted(input, ref i)) continue;
            switch (input[i])
            {
                case '#' when i > open && input[i - 1] is ' ' or '\t' or '\n' or ';' or '(':
                    // A comment inside $( ... ) runs to the end of the line; a ')' in it does not close anything.
                    throw new ShellSyntaxException("a comment inside a substitution is not analysed");
                case '<' when i + 1 < input.Length && input[i + 1] == '<':
                    throw new ShellSyntaxException("a here-document inside a substitution is not analysed");
                case 'c' when IsCaseKeyword(input, i):
                    throw new ShellSyntaxException("a case statement inside a substitution is not analysed");
                case '(': depth++; break;
                case ')':
                    if (--depth == 0) return i;
                    break;
            }
        }
        throw new ShellSyntaxException("a '(' is not closed");
    }

    private static bool IsCaseKeyword(string input, int i) =>
        string.CompareOrdinal(input, i, "case", 0, 4) == 0 &&
        (i == 0 || input[i - 1] is ' ' or '\t' or '\n' or ';' or '(' or '&' or '|') &&
        (i + 4 >= input.Length || input[i + 4] is ' ' or '\t' or '\n');
}
