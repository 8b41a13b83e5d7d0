using Portcullis.Gateway.Connectors.Postgres;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>What a transaction-control statement is, as far as the wire session's transaction is concerned.</summary>
public enum ControlKind { None, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Unsupported, Malformed }

/// <summary>
/// A transaction-control statement, read in full by PostgreSQL's grammar for it (comments skipped as PostgreSQL's lexer
/// skips them): its kind, the savepoint it names (folded as PostgreSQL folds an identifier), the command tag PostgreSQL
/// answers, and <see cref="Sql"/>, the canonical statement the gateway has judged and runs in its place. Transaction
/// control runs without the guard that sets a statement's obligations, so what runs is rebuilt from what was read, never
/// the agent's text: a text the gateway reads as BEGIN but PostgreSQL would read as something else cannot run unguarded.
/// A statement that starts with a transaction keyword but does not read fully as one is <see cref="ControlKind.Malformed"/>
/// (refused). Two-phase commit and AND CHAIN are <see cref="ControlKind.Unsupported"/>: a prepared transaction outlives
/// the session and keeps its locks, and a chained one would begin without being judged.
/// </summary>
public sealed record TransactionControl(ControlKind Kind, string? Savepoint = null, string Tag = "", string Sql = "")
{
    private static readonly TransactionControl NotControl = new(ControlKind.None);
    private static readonly TransactionControl Malformed = new(ControlKind.Malformed);
    private static readonly TransactionControl Unsupported = new(ControlKind.Unsupported);

    public static TransactionControl Of(string sql)
    {
        var words = WireSql.Words(sql, 2);
        if (words.Count == 0) return NotControl;
        if (words[0] is not ("BEGIN" or "START" or "COMMIT" or "END" or "ROLLBACK" or "ABORT" or "SAVEPOINT" or "RELEASE"))
            return words is ["PREPARE", "TRANSACTION"] ? Unsupported : NotControl;
        if (words is ["COMMIT" or "ROLLBACK", "PREPARED"]) return Unsupported;
        if (Tokens(sql) is not { Count: > 0 } tokens) return Malformed;
        var first = tokens[0].Word;
        var rest = tokens.Skip(1).ToList();
        if (first is "BEGIN" or "START")
        {
            if (first == "START" && (rest.Count == 0 || rest[0].Word != "TRANSACTION")) return Malformed;
            if (rest.Count > 0 && (rest[0].Word is "TRANSACTION" || (first == "BEGIN" && rest[0].Word is "WORK"))) rest.RemoveAt(0);
            return Modes(rest) is { } modes
                ? new(ControlKind.Begin, Tag: first == "BEGIN" ? "BEGIN" : "START TRANSACTION", Sql: modes.Length == 0 ? "BEGIN" : "BEGIN " + modes)
                : Malformed;
        }
        if (rest.Count > 0 && rest[0].Word is "WORK" or "TRANSACTION") rest.RemoveAt(0);
        switch (first)
        {
            case "ROLLBACK" when rest is [{ Word: "TO" }, ..]:
                return Named(rest.Skip(1).ToList()) is { } to
                    ? new(ControlKind.RollbackTo, to, "ROLLBACK", "ROLLBACK TO SAVEPOINT " + Quote(to))
                    : Malformed;
            case "COMMIT" or "END" or "ROLLBACK" or "ABORT":
                var commit = first is "COMMIT" or "END";
                return rest switch
                {
                    [] or [{ Word: "AND" }, { Word: "NO" }, { Word: "CHAIN" }] =>
                        new(commit ? ControlKind.Commit : ControlKind.Rollback, Tag: commit ? "COMMIT" : "ROLLBACK", Sql: commit ? "COMMIT" : "ROLLBACK"),
                    [{ Word: "AND" }, { Word: "CHAIN" }] => Unsupported,
                    _ => Malformed,
                };
            case "SAVEPOINT":
                return tokens is [_, { } only] && only.Name is { } name
                    ? new(ControlKind.Savepoint, name, "SAVEPOINT", "SAVEPOINT " + Quote(name))
                    : Malformed;
            default: // RELEASE [SAVEPOINT] name
                return Named(tokens.Skip(1).ToList()) is { } released
                    ? new(ControlKind.Release, released, "RELEASE", "RELEASE SAVEPOINT " + Quote(released))
                    : Malformed;
        }
    }

    /// <summary>[SAVEPOINT] name: the name, or null.</summary>
    private static string? Named(List<Token> rest) => rest switch
    {
        [{ Word: "SAVEPOINT" }, var name] => name.Name,
        [var name] => name.Name,
        _ => null,
    };

    private static readonly string[][] KnownModes =
    [
        ["ISOLATION", "LEVEL", "SERIALIZABLE"], ["ISOLATION", "LEVEL", "REPEATABLE", "READ"],
        ["ISOLATION", "LEVEL", "READ", "COMMITTED"], ["ISOLATION", "LEVEL", "READ", "UNCOMMITTED"],
        ["READ", "WRITE"], ["READ", "ONLY"], ["DEFERRABLE"], ["NOT", "DEFERRABLE"],
    ];

    /// <summary>BEGIN's transaction modes (commas between them optional, as PostgreSQL takes them), canonical; null if anything else.</summary>
    private static string? Modes(List<Token> tokens)
    {
        var words = tokens.Select(t => t.Word).ToList();
        var modes = new List<string>();
        var i = 0;
        while (i < words.Count)
        {
            if (modes.Count > 0 && words[i] == "," && ++i == words.Count) return null;
            var mode = KnownModes.FirstOrDefault(m => i + m.Length <= words.Count && m.Select((w, k) => words[i + k] == w).All(same => same));
            if (mode is null) return null;
            modes.Add(string.Join(' ', mode));
            i += mode.Length;
        }
        return string.Join(", ", modes);
    }

    /// <summary>A token: a keyword or unquoted identifier (<see cref="Word"/> upper case), a quoted identifier, or a comma.</summary>
    private sealed record Token(string? Word, string? Name);

    /// <summary>
    /// The statement's tokens, comments and a trailing semicolon skipped; null when it holds anything a transaction-control
    /// statement cannot (a string, an operator, a character PostgreSQL would read differently), which is refused.
    /// </summary>
    private static List<Token>? Tokens(string sql)
    {
        var tokens = new List<Token>();
        var i = 0;
        var ended = false;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v') i++;
            else if ((c == '-' && i + 1 < sql.Length && sql[i + 1] == '-') || (c == '/' && i + 1 < sql.Length && sql[i + 1] == '*'))
                i = WireSql.Skip(sql, i);
            else if (ended) return null;
            else if (c == ';') { ended = true; i++; }
            else if (c == ',') { tokens.Add(new Token(",", null)); i++; }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                var start = i;
                while (i < sql.Length && (char.IsAsciiLetterOrDigit(sql[i]) || sql[i] is '_' or '$')) i++;
                if (i < sql.Length && sql[i] > 127) return null;
                var word = sql[start..i];
                tokens.Add(new Token(word.ToUpperInvariant(), word.ToLowerInvariant()));
            }
            else if (c == '"')
            {
                var end = WireSql.Quoted(sql, i, '"', false);
                if (end > sql.Length || sql[end - 1] != '"' || end - i < 3) return null;
                tokens.Add(new Token("\"", sql[(i + 1)..(end - 1)].Replace("\"\"", "\"", StringComparison.Ordinal)));
                i = end;
            }
            else return null;
        }
        return tokens;
    }

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>
/// The transaction a wire session holds open, in PostgreSQL's states: idle (<c>I</c>: every statement runs and commits on
/// its own), in a transaction (<c>T</c>: statements run on one pinned upstream connection), failed (<c>E</c>: something
/// in the transaction failed, upstream or at the gateway, and only ROLLBACK or ROLLBACK TO a savepoint is taken). It
/// keeps the settings as they were at BEGIN and at each savepoint, so a rollback forgets what was set after them.
/// An <see cref="Implicit"/> transaction is the one PostgreSQL wraps around the statements of one multi-statement simple
/// query: begun by the gateway before the first of them, committed after the last (or rolled back at the first error),
/// turned into an ordinary one by a BEGIN among them, ended by a COMMIT or ROLLBACK among them (with PostgreSQL's
/// warning); a savepoint is refused in it, as PostgreSQL refuses one outside a transaction block.
/// </summary>
public sealed class WireTransaction
{
    public enum State { Idle, Open, Failed }

    private readonly List<(string Name, WireSettings.Saved Settings)> _savepoints = [];
    private WireSettings.Saved? _begun;

    public State Current { get; private set; }

    /// <summary>The ReadyForQuery status byte.</summary>
    public byte Status => Current switch { State.Open => (byte)'T', State.Failed => (byte)'E', _ => (byte)'I' };

    /// <summary>The transaction's id, carried by the audit record of every statement in it (its BEGIN, COMMIT and ROLLBACK too).</summary>
    public string? Id { get; private set; }

    /// <summary>The upstream connection held for the transaction.</summary>
    public PinnedConnection? Pinned { get; private set; }

    public bool Active => Current != State.Idle;

    /// <summary>The transaction was begun by the gateway for a multi-statement query, not by the agent's BEGIN.</summary>
    public bool Implicit { get; private set; }

    /// <summary>The savepoints open, oldest first.</summary>
    public IReadOnlyList<string> Savepoints => [.. _savepoints.Select(s => s.Name)];

    /// <summary>
    /// Why <paramref name="control"/> (or any other statement, for <see cref="ControlKind.None"/>) is refused in the current
    /// state without running, as PostgreSQL refuses it; null when it may go ahead.
    /// </summary>
    public WireError? Refusal(TransactionControl control) => (Current, control.Kind) switch
    {
        (_, ControlKind.Malformed) => WireError.Of("42601",
            "A transaction-control statement is taken through the gateway only in PostgreSQL's plain form.",
            hint: "Send BEGIN [modes], COMMIT, ROLLBACK, SAVEPOINT name, RELEASE name or ROLLBACK TO name alone."),
        (_, ControlKind.Unsupported) => WireError.Of(WireErrors.FeatureNotSupported,
            "Two-phase commit and AND CHAIN are not supported through the gateway.",
            hint: "End the transaction with COMMIT or ROLLBACK, then BEGIN a new one."),
        (State.Failed, not (ControlKind.Rollback or ControlKind.RollbackTo or ControlKind.Commit)) => WireError.Of("25P02",
            "current transaction is aborted, commands ignored until end of transaction block"),
        (State.Idle, ControlKind.Savepoint or ControlKind.Release or ControlKind.RollbackTo) => OutsideBlock(control),
        (_, ControlKind.Savepoint or ControlKind.Release or ControlKind.RollbackTo) when Implicit => OutsideBlock(control),
        _ => null,
    };

    /// <summary>PostgreSQL's refusal of a savepoint statement outside a transaction block.</summary>
    private static WireError OutsideBlock(TransactionControl control) => WireError.Of("25P01",
        $"{(control.Kind == ControlKind.RollbackTo ? "ROLLBACK TO SAVEPOINT" : control.Tag)} can only be used in transaction blocks");

    /// <summary>A notice for a statement that changes nothing in this state (PostgreSQL's warnings), or null.</summary>
    public WireError? NoOp(TransactionControl control) => (Current, control.Kind) switch
    {
        (State.Idle, ControlKind.Commit or ControlKind.Rollback) => NoTransaction,
        (State.Open, ControlKind.Begin) when !Implicit => new WireError("WARNING", "25001", "there is already a transaction in progress"),
        _ => null,
    };

    /// <summary>PostgreSQL's warning for a COMMIT or ROLLBACK without a BEGIN (it still ends an implicit transaction).</summary>
    public static readonly WireError NoTransaction = new("WARNING", "25P01", "there is no transaction in progress");

    public void Began(string id, PinnedConnection pinned, WireSettings.Saved settings, bool implicitly = false)
    {
        if (Current != State.Idle) throw new InvalidOperationException("A transaction is already open.");
        (Current, Id, Pinned, _begun, Implicit) = (State.Open, id, pinned, settings, implicitly);
    }

    /// <summary>A BEGIN among the statements of an implicit transaction: it goes on as an ordinary one, the statements before it included.</summary>
    public void MadeExplicit() => Implicit = false;

    /// <summary>An error inside the transaction: it can only be rolled back now.</summary>
    public void Fail()
    {
        if (Current == State.Open) Current = State.Failed;
    }

    public void Savepoint(string name, WireSettings.Saved settings) => _savepoints.Add((name, settings));

    /// <summary>RELEASE: the newest savepoint of that name and those after it are gone.</summary>
    public void Released(string name)
    {
        var at = _savepoints.FindLastIndex(s => s.Name == name);
        if (at >= 0) _savepoints.RemoveRange(at, _savepoints.Count - at);
    }

    /// <summary>ROLLBACK TO: the transaction is usable again, the savepoint stays, those after it are gone; the settings to go back to.</summary>
    public WireSettings.Saved? RolledBackTo(string name)
    {
        Current = State.Open; // the database took it: whatever the gateway knows of the name, the transaction is usable
        var at = _savepoints.FindLastIndex(s => s.Name == name);
        if (at < 0) return null;
        _savepoints.RemoveRange(at + 1, _savepoints.Count - at - 1);
        return _savepoints[at].Settings;
    }

    /// <summary>The transaction is over (committed or rolled back): its connection to give back, and the settings at BEGIN.</summary>
    public (PinnedConnection? Pinned, WireSettings.Saved? Begun) Ended()
    {
        var ended = (Pinned, _begun);
        (Current, Id, Pinned, _begun, Implicit) = (State.Idle, null, null, null, false);
        _savepoints.Clear();
        return ended;
    }
}
