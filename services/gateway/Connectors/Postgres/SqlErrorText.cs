using System.Text.RegularExpressions;
using Npgsql;

namespace Portcullis.Gateway.Connectors.Postgres;

/// <summary>
/// What the agent is told of a database error. An error message can carry a value the statement read
/// (<c>invalid input syntax for type integer: "sk_live_..."</c>, a RAISE of any expression), and masking reads it
/// only as text, where a secret that looks like nothing in particular passes: so the values a data or integrity
/// error quotes are withheld, and a raised exception's own message is not passed on at all. What is left
/// (the kind of error, types, names) is what an agent needs to fix its statement.
/// </summary>
public static partial class SqlErrorText
{
    public const string Withheld = "(value withheld)";

    public static string For(PostgresException error) => error.SqlState switch
    {
        // RAISE EXCEPTION / ASSERT: the message is whatever the statement made it.
        PostgresErrorCodes.RaiseException or PostgresErrorCodes.AssertFailure =>
            "The statement raised an exception (its message is withheld: it can carry any value the statement read).",
        // Class 22 (data exception) and 23 (integrity constraint violation) quote the offending value.
        var state when state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal) =>
            Quoted().Replace(error.MessageText, $"\"{Withheld}\""),
        _ => error.MessageText,
    };

    // A double-quoted value as PostgreSQL writes one into a message (embedded quotes are not escaped, so up to the last quote on the line).
    [GeneratedRegex("\"[^\\r\\n]*\"")]
    private static partial Regex Quoted();
}
