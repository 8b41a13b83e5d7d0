using System.Text.RegularExpressions;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// The session settings a wire connection has made (<c>SET search_path = demo</c>, <c>SET TimeZone ...</c>). Each
/// statement runs upstream on a connection of its own, so the settings that succeeded are run again before every later
/// statement, in its transaction, and policy judges them together with it: a statement is judged with the settings it
/// runs under (a search_path that makes <c>customers</c> mean <c>demo.customers</c> is seen by the masked-column and
/// catalogue checks), and the audit records what ran. RESET, RESET ALL and DISCARD ALL forget them. Inside a transaction
/// the wire session holds open, SET LOCAL is kept until the transaction ends, and a rollback (to a savepoint) forgets what
/// was set after it, as PostgreSQL does.
/// </summary>
public sealed partial class WireSettings
{
    /// <summary>More distinct settings than any client makes; past it a SET is refused rather than growing every statement.</summary>
    public const int MaxSettings = 64;

    private readonly List<Setting> _settings = [];

    /// <summary>A setting kept: its name, the statement that made it, and whether it ends with the transaction (SET LOCAL).</summary>
    internal sealed record Setting(string Name, string Statement, bool Local);

    /// <summary>The settings as they stood at a point of a transaction (its BEGIN, a savepoint), to go back to.</summary>
    public sealed class Saved
    {
        internal Saved(IReadOnlyList<Setting> settings) => Settings = settings;
        internal IReadOnlyList<Setting> Settings { get; }
    }

    public IReadOnlyList<string> Statements => [.. _settings.Select(s => s.Statement)];

    /// <summary>What the statement text would be with the settings before it: what policy judges and the audit records.</summary>
    public string Judged(string statement) =>
        _settings.Count == 0 ? statement : string.Join("\n;\n", [.. _settings.Select(s => s.Statement), statement]);

    /// <summary>Why the statement cannot be run with the settings kept, or null.</summary>
    public string? Refusal(string statement) =>
        Change(statement) is { Kind: ChangeKind.Set or ChangeKind.SetLocal, Name: var name } && _settings.Count >= MaxSettings
            && _settings.All(s => s.Name != name)
            ? $"At most {MaxSettings} session settings are kept by the gateway; RESET some first."
            : null;

    /// <summary>
    /// Takes note of a statement that succeeded upstream. <paramref name="inTransaction"/>: it ran in a transaction the wire
    /// session holds open, where SET LOCAL holds for the statements after it until the transaction ends, so it is kept
    /// (judged and run again with them) until then.
    /// </summary>
    public void Succeeded(string statement, bool inTransaction = false)
    {
        var change = Change(statement);
        switch (change.Kind)
        {
            case ChangeKind.Set:
                _settings.RemoveAll(s => s.Name == change.Name);
                _settings.Add(new Setting(change.Name!, statement.Trim(), false));
                break;
            case ChangeKind.SetLocal when inTransaction:
                _settings.RemoveAll(s => s.Name == change.Name && s.Local);
                _settings.Add(new Setting(change.Name!, statement.Trim(), true));
                break;
            case ChangeKind.Reset:
                _settings.RemoveAll(s => s.Name == change.Name);
                break;
            case ChangeKind.ResetAll:
                _settings.Clear();
                break;
        }
    }

    public Saved Save() => new([.. _settings]);

    /// <summary>Back to the settings saved (a rollback, or a rollback to a savepoint, undoes what came after).</summary>
    public void Restore(Saved saved)
    {
        _settings.Clear();
        _settings.AddRange(saved.Settings);
    }

    /// <summary>The transaction committed: its SET LOCALs end with it, its SETs stay.</summary>
    public void Committed() => _settings.RemoveAll(s => s.Local);

    public enum ChangeKind { None, Set, SetLocal, Reset, ResetAll }

    public static (ChangeKind Kind, string? Name) Change(string statement)
    {
        var words = WireSql.Words(statement, 2);
        if (words is ["RESET", "ALL"] or ["DISCARD", "ALL"]) return (ChangeKind.ResetAll, null);
        if (words is ["RESET", _] && ResetName().Match(statement) is { Success: true } reset) return (ChangeKind.Reset, Name(reset.Groups[1].Value));
        // SET TRANSACTION (and its settings' names) sets the transaction's own modes, which cannot be set again later in it.
        if (words is ["SET", "LOCAL"])
            return LocalName().Match(statement) is { Success: true } local && Name(local.Groups[1].Value) is var named
                                                                       && !named.StartsWith("transaction", StringComparison.Ordinal)
                ? (ChangeKind.SetLocal, named is "time zone" ? "timezone" : named)
                : (ChangeKind.None, null);
        if (words is not ["SET", _] || words[1] is "TRANSACTION") return (ChangeKind.None, null);
        if (SetName().Match(statement) is not { Success: true } set) return (ChangeKind.Set, statement.Trim());
        var name = Name(set.Groups[1].Value);
        return (ChangeKind.Set, name is "time zone" ? "timezone" : name);
    }

    private static string Name(string text) => Regex.Replace(text.Trim('"').ToLowerInvariant(), @"\s+", " ");

    [GeneratedRegex(@"^\s*SET\s+(?:SESSION\s+(?!AUTHORIZATION|CHARACTERISTICS))?(""[^""]+""|time\s+zone|session\s+authorization|session\s+characteristics|[A-Za-z_][\w.$]*)",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SetName();

    [GeneratedRegex(@"^\s*SET\s+LOCAL\s+(""[^""]+""|time\s+zone|[A-Za-z_][\w.$]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex LocalName();

    [GeneratedRegex(@"^\s*RESET\s+(""[^""]+""|time\s+zone|session\s+authorization|[A-Za-z_][\w.$]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ResetName();
}
