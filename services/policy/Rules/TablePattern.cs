using Portcullis.Policy.Analysis.Sql;

namespace Portcullis.Policy.Rules;

/// <summary>
/// "customers" matches that table in any schema; "public.customers" matches it qualified, and unqualified
/// when PostgreSQL could resolve the name there: pg_catalog (always searched first) or a schema of the search
/// path in force (public, unless the same SQL sets another). Case-insensitive.
/// </summary>
public sealed class TablePattern
{
    private readonly NameGlob? _schema;
    private readonly NameGlob _name;

    public TablePattern(string pattern)
    {
        var dot = pattern.LastIndexOf('.');
        _schema = dot > 0 ? new NameGlob(pattern[..dot], ignoreCase: true) : null;
        _name = new NameGlob(dot > 0 ? pattern[(dot + 1)..] : pattern, ignoreCase: true);
    }

    public bool IsMatch(TableReference table, IReadOnlyList<string> searchPath) =>
        _name.IsMatch(table.Name) && (_schema is null ||
            (table.Schema is { } schema ? _schema.IsMatch(schema) : _schema.IsMatch("pg_catalog") || searchPath.Any(_schema.IsMatch)));
}
