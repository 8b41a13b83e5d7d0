namespace Portcullis.Policy.Analysis.Sql.Catalogue;

/// <summary>
/// What a statement can do beyond its statement kind, each a kind policy rules can name in <c>sql.kinds</c>.
/// Functions and operators get theirs from the catalogue generated from PostgreSQL's pg_proc (pg-functions.tsv);
/// what the catalogue does not hold is <see cref="UnvettedFunction"/>.
/// </summary>
public static class SqlCapabilities
{
    /// <summary>Runs SQL text (query_to_xml, table_to_xml, ts_stat, DO, EXECUTE): constant text is analysed as SQL too.</summary>
    public const string SqlExecution = "sql_execution";
    /// <summary>Runs SQL the analysis cannot see: a non-constant query text, a prepared statement or cursor from elsewhere, a DO body, every table of a schema.</summary>
    public const string DynamicSql = "dynamic_sql";
    public const string FileAccess = "file_access";
    public const string LargeObject = "large_object";
    public const string LargeObjectWrite = "large_object_write";
    public const string RemoteAccess = "remote_access";
    public const string AdminFunction = "admin_function";
    /// <summary>Changes state that outlives the statement: advisory locks, notifications, sequences, exported snapshots, index maintenance.</summary>
    public const string ServerState = "server_state";
    /// <summary>Reads catalog data that holds credentials, other sessions' statements, server files' contents or column statistics.</summary>
    public const string SensitiveCatalog = "sensitive_catalog";
    public const string ProgramExecution = "program_execution";
    /// <summary>A function or operator that is not a built-in of the catalogue: user-defined, from an extension, or unknown.</summary>
    public const string UnvettedFunction = "unvetted_function";
    /// <summary>SET, RESET or set_config of a setting that changes how statements are checked or run (not a presentation setting).</summary>
    public const string UnsafeSetting = "unsafe_setting";
    /// <summary>Holds the session without doing work (pg_sleep); the statement timeout bounds it.</summary>
    public const string Delay = "delay";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        SqlExecution, DynamicSql, FileAccess, LargeObject, LargeObjectWrite, RemoteAccess, AdminFunction, ServerState,
        SensitiveCatalog, ProgramExecution, UnvettedFunction, UnsafeSetting, Delay,
    };
}
