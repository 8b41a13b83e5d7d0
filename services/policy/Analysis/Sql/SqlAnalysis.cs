namespace Portcullis.Policy.Analysis.Sql;

/// <summary>A table as written in the statement: schema only when it was qualified.</summary>
public readonly record struct TableReference(string? Schema, string Name)
{
    public override string ToString() => Schema is null ? Name : $"{Schema}.{Name}";
}

/// <summary>
/// What a SQL string does, statement by statement, as PostgreSQL's parser reads it. <see cref="Kinds"/> holds
/// statement kinds (select, insert, update, delete, merge, copy, ddl, drop, truncate, privilege, ...) and the
/// capabilities found anywhere, SQL text that functions run included (copy_to_program, copy_from_program, and those
/// of <see cref="Catalogue.SqlCapabilities"/>: sql_execution, dynamic_sql, file_access, large_object, ...).
/// </summary>
public sealed class SqlAnalysis
{
    public required IReadOnlyList<string> Statements { get; init; }
    public required IReadOnlySet<string> Kinds { get; init; }
    public required IReadOnlySet<TableReference> TablesRead { get; init; }
    public required IReadOnlySet<TableReference> TablesWritten { get; init; }
    public required IReadOnlySet<string> Functions { get; init; }
    public required IReadOnlySet<string> Columns { get; init; }

    /// <summary>Where unqualified names resolve after pg_catalog: public, or what the SQL itself sets.</summary>
    public IReadOnlyList<string> SearchPath { get; init; } = DefaultSearchPath;

    public static readonly IReadOnlyList<string> DefaultSearchPath = ["public"];

    /// <summary>
    /// Settings the SQL gives a value to that an agent may not set at all (see <see cref="SqlStatementAnalyzer.MaySet"/>),
    /// lower case; <c>*</c> when it is not known which (a computed set_config name, an UPDATE of pg_settings).
    /// </summary>
    public IReadOnlySet<string> SettingsChanged { get; init; } = new HashSet<string>();

    /// <summary>The parser's message when it rejected the string; then nothing else is known.</summary>
    public string? Error { get; init; }

    public IEnumerable<TableReference> Tables => TablesRead.Union(TablesWritten);

    public static SqlAnalysis Rejected(string error) => new()
    {
        Statements = [], Kinds = new HashSet<string>(), TablesRead = new HashSet<TableReference>(),
        TablesWritten = new HashSet<TableReference>(), Functions = new HashSet<string>(), Columns = new HashSet<string>(),
        Error = error,
    };
}
