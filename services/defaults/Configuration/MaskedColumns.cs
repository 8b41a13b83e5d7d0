using System.Text.RegularExpressions;

namespace Portcullis.Defaults.Configuration;

/// <summary>
/// The columns a connection's masking rules mask by origin ("schema.table.column", '*' within a part), for the
/// services that must know them before a value exists: the policy (which refuses statements that compute on
/// them) and the gateway (which refuses views over them). Matching is case-insensitive, as the masking
/// service's own is.
/// </summary>
public sealed class MaskedColumns
{
    private readonly Pattern[] _patterns;

    private MaskedColumns(IEnumerable<string> columns) =>
        // Only three-part patterns can match an origin, which always has three parts.
        _patterns = [.. columns.Select(c => c.Split('.')).Where(p => p.Length == 3)
            .Select(p => new Pattern(Glob(p[0]), Glob(p[1]), Glob(p[2]), string.Join('.', p)))];

    public static readonly MaskedColumns None = new([]);

    /// <summary>The column patterns of every masking rule that applies to the connection (rules without connections apply to all).</summary>
    public static MaskedColumns For(MaskedColumnRules masking, string connection) =>
        new(masking.Rules.Where(r => r.Connections.Count == 0 || r.Connections.Contains(connection)).SelectMany(r => r.Columns));

    public bool IsEmpty => _patterns.Length == 0;

    /// <summary>The pattern that masks the column, or null. A null schema (an unqualified table) matches any schema.</summary>
    public string? Find(string? schema, string table, string column) =>
        _patterns.FirstOrDefault(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table) && p.Column.IsMatch(column))?.Text;

    /// <summary>Whether any column of the table is masked. A null schema matches any schema.</summary>
    public bool HasMaskedColumns(string? schema, string table) =>
        _patterns.Any(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table));

    /// <summary>One masked column of the table as configured (for messages), or null.</summary>
    public string? AnyMaskedColumn(string? schema, string table) =>
        _patterns.FirstOrDefault(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table))?.Text;

    private static Regex Glob(string part) => new("^" + Regex.Escape(part).Replace(@"\*", ".*") + "$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    private sealed record Pattern(Regex Schema, Regex Table, Regex Column, string Text);
}
