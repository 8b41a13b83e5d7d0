using Portcullis.Gateway.Connectors.Postgres;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>What a transaction-control statement is, as far as the wire session's transaction is concerned.</summary>
public enum ControlKind { None, Begin, Commit, Rollback, Savepoint, Release, RollbackTo, Unsupported }

/// <summary>
/// A transaction-control statement read from its leading keywords (comments skipped, as PostgreSQL's lexer skips them):
/// its kind, the savepoint it names (folded as PostgreSQL folds an identifier), and the command tag PostgreSQL answers.
/// Two-phase commit and AND CHAIN are <see cref="ControlKind.Unsupported"/>: a prepared transaction outlives the session
/// and keeps its locks, and a chained one would begin without being judged.
/// </summary>
public sealed record TransactionControl(ControlKind Kind, string? Savepoint = null, string Tag = "")
{
    private static readonly TransactionControl NotControl = new(ControlKind.None);

    public static TransactionControl Of(string sql)
    {
        var words = WireSql.Words(sql, 6);
        if (words.Count == 0) return NotControl;
        var rest = words.Skip(1).SkipWhile(w => w is "WORK" or "TRANSACTION").ToArray();
        var chained = rest is ["AND", "CHAIN", ..];
        switch (words[0])
        {
            case "BEGIN":
                return new(ControlKind.Begin, Tag: "BEGIN");
            case "START" when words is [_, "TRANSACTION", ..]:
                return new(ControlKind.Begin, Tag: "START TRANSACTION");
            case "COMMIT" or "END" when words is [_, "PREPARED", ..] || chained:
            case "ROLLBACK" when words is [_, "PREPARED", ..]:
            case "ROLLBACK" or "ABORT" when chained:
            case "PREPARE" when words is [_, "TRANSACTION", ..]:
                return new(ControlKind.Unsupported);
            case "COMMIT" or "END":
                return new(ControlKind.Commit, Tag: "COMMIT");
            case "ROLLBACK" when rest is ["TO", ..]:
                return new(ControlKind.RollbackTo, SavepointName(sql, "TO"), "ROLLBACK");
            case "ROLLBACK" or "ABORT":
                return new(ControlKind.Rollback, Tag: "ROLLBACK");
            case "SAVEPOINT":
                return new(ControlKind.Savepoint, SavepointName(sql, "SAVEPOINT"), "SAVEPOINT");
            case "RELEASE":
                return new(ControlKind.Release, SavepointName(sql, "RELEASE"), "RELEASE");
            default:
                return NotControl;
        }
    }

    /// <summary>The identifier after <paramref name="keyword"/> (and an optional SAVEPOINT), folded to lower case unless quoted.</summary>
    private static string? SavepointName(string sql, string keyword)
    {
        var match = System.Text.RegularExpressions.Regex.Match(sql,
            $@"\b{keyword}\s+(?:SAVEPOINT\s+(?=\S))?(""(?:[^""]|"""")+""|[^\s;]+)",
            System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        if (!match.Success) return null;
        var name = match.Groups[1].Value;
        return name.StartsWith('"') ? name[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal) : name.ToLowerInvariant();
    }
}

/// <summary>
/// The transaction a wire session holds open, in PostgreSQL's states: idle (<c>I</c>: every statement runs and commits on
/// its own), in a transaction (<c>T</c>: statements run on one pinned upstream connection), failed (<c>E</c>: something
/// in the transaction failed, upstream or at the gateway, and only ROLLBACK or ROLLBACK TO a savepoint is taken). It
/// keeps the settings as they were at BEGIN and at each savepoint, so a rollback forgets what was set after them.
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

    /// <summary>The savepoints open, oldest first.</summary>
    public IReadOnlyList<string> Savepoints => [.. _savepoints.Select(s => s.Name)];

    /// <summary>
    /// Why <paramref name="control"/> (or any other statement, for <see cref="ControlKind.None"/>) is refused in the current
    /// state without running, as PostgreSQL refuses it; null when it may go ahead.
    /// </summary>
    public WireError? Refusal(TransactionControl control) => (Current, control.Kind) switch
    {
        (_, ControlKind.Unsupported) => WireError.Of(WireErrors.FeatureNotSupported,
            "Two-phase commit and AND CHAIN are not supported through the gateway.",
            hint: "End the transaction with COMMIT or ROLLBACK, then BEGIN a new one."),
        (State.Failed, not (ControlKind.Rollback or ControlKind.RollbackTo or ControlKind.Commit)) => WireError.Of("25P02",
            "current transaction is aborted, commands ignored until end of transaction block"),
        (State.Idle, ControlKind.Savepoint or ControlKind.Release or ControlKind.RollbackTo) => WireError.Of("25P01",
            $"{(control.Kind == ControlKind.RollbackTo ? "ROLLBACK TO SAVEPOINT" : control.Tag)} can only be used in transaction blocks"),
        _ => null,
    };

    /// <summary>A notice for a statement that changes nothing in this state (PostgreSQL's warnings), or null.</summary>
    public WireError? NoOp(TransactionControl control) => (Current, control.Kind) switch
    {
        (State.Idle, ControlKind.Commit or ControlKind.Rollback) => new WireError("WARNING", "25P01", "there is no transaction in progress"),
        (State.Open, ControlKind.Begin) => new WireError("WARNING", "25001", "there is already a transaction in progress"),
        _ => null,
    };

    public void Began(string id, PinnedConnection pinned, WireSettings.Saved settings)
    {
        if (Current != State.Idle) throw new InvalidOperationException("A transaction is already open.");
        (Current, Id, Pinned, _begun) = (State.Open, id, pinned, settings);
    }

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
        (Current, Id, Pinned, _begun) = (State.Idle, null, null, null);
        _savepoints.Clear();
        return ended;
    }
}
