using System.Text.RegularExpressions;
using Portcullis.Defaults.Masking;

namespace Portcullis.Defaults.Configuration;

/// <summary>
/// The columns a connection's masking rules mask by origin ("schema.table.column", '*' within a part), for the
/// services that must know them before a value exists: the policy (which refuses statements that compute on
/// them) and the gateway (which refuses views over them). Matching is case-insensitive, as the masking
/// service's own is.
/// </summary>
public sealed class MaskedColumns
{
    /// <summary>What <see cref="AnyMaskedColumn"/> says of a table when columns are masked by name: any table may have one.</summary>
    public const string AnyNamedColumn = "any column named like a secret or personal data such as password, token, api_key, email, phone, ssn or card_number, which any table may have";

    private readonly Pattern[] _patterns;
    private readonly bool _byName;

    private MaskedColumns(Pattern[] patterns, bool byName) => (_patterns, _byName) = (patterns, byName);

    private MaskedColumns(IEnumerable<string> columns, bool byName) : this(
        // Only three-part patterns can match an origin, which always has three parts.
        [.. columns.Select(c => c.Split('.')).Where(p => p.Length == 3)
            .Select(p => new Pattern(Glob(p[0]), Glob(p[1]), Glob(p[2]), string.Join('.', p)))], byName)
    {
    }

    public static readonly MaskedColumns None = new(Array.Empty<string>(), byName: false);

    /// <summary>The column patterns of every masking rule that applies to the connection (rules without connections apply to all).</summary>
    public static MaskedColumns For(MaskedColumnRules masking, string connection) =>
        new(masking.Rules.Where(r => r.Connections.Count == 0 || r.Connections.Contains(connection)).SelectMany(r => r.Columns), byName: false);

    /// <summary>
    /// These columns, and also every column the masking service masks by its name (<see cref="SensitiveKeys"/>: a
    /// <c>password</c>, <c>api_key</c>, <c>email</c> column of any table), for the policy's flow check: masking keeps
    /// such a column masked only while it comes out bare under its name or origin, as a configured one.
    /// The tables' columns are not known here, so any table may have such a column (a whole-row reference to any
    /// table counts as one to a masked column).
    /// </summary>
    public MaskedColumns WithNamedColumns() => new(_patterns, byName: true);

    public bool IsEmpty => _patterns.Length == 0 && !_byName;

    /// <summary>Whether columns are masked by their names too (<see cref="WithNamedColumns"/>).</summary>
    public bool ByName => _byName;

    /// <summary>The pattern that masks the column, or null. A null schema (an unqualified table) matches any schema.</summary>
    public string? Find(string? schema, string table, string column) =>
        _patterns.FirstOrDefault(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table) && p.Column.IsMatch(column))?.Text
        ?? (_byName && SensitiveKeys.MaskedByName(column) ? $"{(schema is null ? "" : schema + ".")}{table}.{column} (masked by its name)" : null);

    /// <summary>Whether any column of the table is masked. A null schema matches any schema.</summary>
    public bool HasMaskedColumns(string? schema, string table) =>
        _byName || _patterns.Any(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table));

    /// <summary>One masked column of the table as configured (for messages), or null.</summary>
    public string? AnyMaskedColumn(string? schema, string table) =>
        _patterns.FirstOrDefault(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table))?.Text
        ?? (_byName ? AnyNamedColumn : null);

    /// <summary>One column a rule declares masked in the table (not by its name alone), or null. A null schema matches any schema.</summary>
    public string? DeclaredMaskedColumn(string? schema, string table) =>
        _patterns.FirstOrDefault(p => (schema is null || p.Schema.IsMatch(schema)) && p.Table.IsMatch(table))?.Text;

    /// <summary>One column a rule declares masked in a table of the schema, or null.</summary>
    public string? DeclaredMaskedColumnInSchema(string schema) => _patterns.FirstOrDefault(p => p.Schema.IsMatch(schema))?.Text;

    private static Regex Glob(string part) => new("^" + Regex.Escape(part).Replace(@"\*", ".*") + "$",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    private sealed record Pattern(Regex Schema, Regex Table, Regex Column, string Text);
}
