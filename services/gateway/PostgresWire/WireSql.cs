namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// What the gateway needs to know of a statement's text on the wire, without judging it (policy does that, on the
/// whole text): how many statements it holds, the first words (for command tags and the session commands the gateway
/// answers itself). Quotes, dollar quotes and comments are skipped as PostgreSQL's lexer skips them.
/// </summary>
public static class WireSql
{
    /// <summary>The statements of <paramref name="sql"/>, split at top-level semicolons; empty ones dropped.</summary>
    public static IReadOnlyList<string> Statements(string sql)
    {
        var statements = new List<string>();
        var start = 0;
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c == ';')
            {
                Add(statements, sql[start..i]);
                start = ++i;
            }
            else i = Skip(sql, i);
        }
        Add(statements, sql[start..]);
        return statements;
    }

    private static void Add(List<string> statements, string text)
    {
        if (Words(text, 1).Count > 0) statements.Add(text.Trim());
    }

    /// <summary>Past the token at <paramref name="i"/>: a quoted string, identifier, dollar-quoted body, comment, or one character.</summary>
    internal static int Skip(string sql, int i)
    {
        var c = sql[i];
        if (c == '\'' )
        {
            var escapes = i > 0 && (sql[i - 1] is 'e' or 'E') && (i < 2 || !char.IsLetterOrDigit(sql[i - 2]));
            return Quoted(sql, i, '\'', escapes);
        }
        if (c == '"') return Quoted(sql, i, '"', false);
        if (c == '-' && At(sql, i + 1) == '-')
        {
            // PostgreSQL's lexer ends a line comment at a carriage return as well as a newline.
            var end = sql.IndexOfAny(['\n', '\r'], i);
            return end < 0 ? sql.Length : end + 1;
        }
        if (c == '/' && At(sql, i + 1) == '*')
        {
            var depth = 0;
            var j = i;
            while (j < sql.Length)
            {
                if (sql[j] == '/' && At(sql, j + 1) == '*') { depth++; j += 2; }
                else if (sql[j] == '*' && At(sql, j + 1) == '/') { depth--; j += 2; if (depth == 0) return j; }
                else j++;
            }
            return sql.Length;
        }
        if (c == '$' && (i == 0 || !IsIdentifier(sql[i - 1])))
        {
            var close = sql.IndexOf('$', i + 1);
            if (close > 0 && sql.AsSpan(i + 1, close - i - 1).IndexOfAnyExcept(IdentifierChars) < 0
                && (close == i + 1 || !char.IsDigit(sql[i + 1])))
            {
                var tag = sql[i..(close + 1)];
                var end = sql.IndexOf(tag, close + 1, StringComparison.Ordinal);
                return end < 0 ? sql.Length : end + tag.Length;
            }
        }
        return i + 1;
    }

    private static readonly System.Buffers.SearchValues<char> IdentifierChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

    private static bool IsIdentifier(char c) => char.IsLetterOrDigit(c) || c == '_';

    internal static int Quoted(string sql, int i, char quote, bool backslashEscapes)
    {
        var j = i + 1;
        while (j < sql.Length)
        {
            if (backslashEscapes && sql[j] == '\\') { j += 2; continue; }
            if (sql[j] == quote)
            {
                if (At(sql, j + 1) == quote) { j += 2; continue; }
                return j + 1;
            }
            j++;
        }
        return sql.Length;
    }

    private static char At(string sql, int i) => i < sql.Length ? sql[i] : '\0';

    /// <summary>The first <paramref name="count"/> words of the statement, upper case, comments and parentheses skipped.</summary>
    public static IReadOnlyList<string> Words(string sql, int count)
    {
        var words = new List<string>();
        var i = 0;
        while (i < sql.Length && words.Count < count)
        {
            var c = sql[i];
            if (char.IsLetter(c) || c == '_')
            {
                var start = i;
                while (i < sql.Length && IsIdentifier(sql[i])) i++;
                words.Add(sql[start..i].ToUpperInvariant());
            }
            else if (char.IsWhiteSpace(c) || c == '(' || c == ')') i++;
            else if ((c == '-' && At(sql, i + 1) == '-') || (c == '/' && At(sql, i + 1) == '*')) i = Skip(sql, i);
            else
            {
                // Anything else starts a statement (a number, a quote): it has a first word of its own.
                if (words.Count == 0) words.Add(c.ToString());
                break;
            }
        }
        return words;
    }

    /// <summary>
    /// The CommandComplete tag PostgreSQL gives a statement: <c>SELECT n</c>, <c>INSERT 0 n</c>, <c>UPDATE n</c>, or its
    /// leading keywords (<c>CREATE TABLE</c>, <c>SET</c>).
    /// </summary>
    public static string CommandTag(string statement, long rows, bool returnedRows)
    {
        var words = Words(statement, 2);
        var first = words.Count > 0 ? words[0] : "";
        return first switch
        {
            "INSERT" => $"INSERT 0 {rows}",
            "UPDATE" or "DELETE" or "MERGE" or "MOVE" or "FETCH" or "COPY" => $"{first} {rows}",
            "SELECT" or "VALUES" or "TABLE" or "WITH" or "SHOW" when returnedRows && first != "SHOW" => $"SELECT {rows}",
            "SHOW" => "SHOW",
            "CREATE" or "DROP" or "ALTER" when words.Count > 1 => $"{first} {words[1]}",
            "SELECT" or "VALUES" or "TABLE" or "WITH" => $"SELECT {rows}",
            _ => first,
        };
    }
}
