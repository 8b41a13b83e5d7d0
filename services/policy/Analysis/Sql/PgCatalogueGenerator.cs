using System.Globalization;
using System.Text;
using Npgsql;
using Portcullis.Policy.Analysis.Sql.Catalogue;

namespace Portcullis.Policy.Analysis.Sql;

/// <summary>
/// Writes pg-functions.tsv, pg-operators.tsv and pg-relations.tsv from a PostgreSQL server's own catalogue:
/// <c>ConnectionStrings__Postgres=... dotnet run --project services/policy -- catalog generate [folder]</c>.
/// Only what initdb created is read (oid below 16384, schemas pg_catalog and information_schema), so the
/// database's own objects and extensions never enter it. An end-to-end test regenerates the files from the local
/// server and compares them with the ones in the repository.
/// </summary>
public static class PgCatalogueGenerator
{
    public sealed record Files(string Functions, string Operators, string Relations);

    // The first oid initdb does not hand out (FirstNormalObjectId in PostgreSQL's transam.h).
    private const int FirstNormalObjectId = 16384;

    /// <summary>
    /// The reviewed built-in functions that do more than compute, by their C symbol (pg_proc.prosrc of internal and C
    /// functions); a trailing * is a prefix. The SQL argument names the argument that holds SQL text, a relation or
    /// a setting name (role:position:name), which the analysis reads as SQL when it is a constant.
    /// </summary>
    private static readonly (string Symbol, string Kinds, string SqlArgument)[] Reviewed =
    [
        ("query_to_xml", "sql_execution", "query:0:query"),
        ("query_to_xmlschema", "sql_execution", "query:0:query"),
        ("query_to_xml_and_xmlschema", "sql_execution", "query:0:query"),
        ("table_to_xml", "sql_execution", "table:0:tbl"),
        ("table_to_xmlschema", "sql_execution", "table:0:tbl"),
        ("table_to_xml_and_xmlschema", "sql_execution", "table:0:tbl"),
        ("ts_stat1", "sql_execution", "query:0:query"),
        ("ts_stat2", "sql_execution", "query:0:query"),
        ("tsquery_rewrite_query", "sql_execution", "query:1:-"),
        // Every table of a schema or database, or a cursor opened elsewhere: what they read cannot be seen.
        ("schema_to_xml*", "sql_execution,dynamic_sql", "-"),
        ("database_to_xml*", "sql_execution,dynamic_sql", "-"),
        ("cursor_to_xml*", "sql_execution,dynamic_sql", "-"),
        ("pg_read_file*", "file_access", "-"),
        ("pg_read_binary_file*", "file_access", "-"),
        ("pg_ls_*", "file_access", "-"),
        ("pg_stat_file*", "file_access", "-"),
        ("pg_current_logfile*", "file_access", "-"),
        ("be_lo_import*", "file_access,large_object_write", "-"),
        ("be_lo_export", "file_access,large_object", "-"),
        ("be_lo_creat", "large_object_write", "-"),
        ("be_lo_create", "large_object_write", "-"),
        ("be_lo_from_bytea", "large_object_write", "-"),
        ("be_lo_put", "large_object_write", "-"),
        ("be_lowrite", "large_object_write", "-"),
        ("be_lo_truncate*", "large_object_write", "-"),
        ("be_lo_unlink", "large_object_write", "-"),
        ("be_lo*", "large_object", "-"),
        ("pg_advisory_*", "server_state", "-"),
        ("pg_try_advisory_*", "server_state", "-"),
        ("pg_notify", "server_state", "-"),
        ("nextval_oid", "server_state", "-"),
        ("setval_oid", "server_state", "-"),
        ("setval3_oid", "server_state", "-"),
        ("pg_export_snapshot", "server_state", "-"),
        ("pg_stat_clear_snapshot", "server_state", "-"),
        ("pg_stat_force_next_flush", "server_state", "-"),
        ("brin_summarize_*", "server_state", "-"),
        ("brin_desummarize_range", "server_state", "-"),
        ("gin_clean_pending_list", "server_state", "-"),
        ("set_config_by_name", "admin_function", "setting:0:-"),
        ("show_config_by_name", "-", "setting_read:0:-"),
        ("show_config_by_name_missing_ok", "-", "setting_read:0:-"),
        ("pg_cancel_backend", "admin_function", "-"),
        ("pg_terminate_backend", "admin_function", "-"),
        ("pg_logical_*", "admin_function", "-"),
        ("pg_create_*_replication_slot", "admin_function", "-"),
        ("pg_copy_*_replication_slot*", "admin_function", "-"),
        ("pg_drop_replication_slot", "admin_function", "-"),
        ("pg_replication_slot_advance", "admin_function", "-"),
        ("pg_replication_origin_*", "admin_function", "-"),
        ("pg_import_system_collations", "admin_function", "-"),
        ("pg_nextoid", "admin_function", "-"),
        ("binary_upgrade_*", "admin_function", "-"),
        ("pg_stop_making_pinned_objects", "admin_function", "-"),
        ("pg_rotate_logfile*", "admin_function", "-"),
        ("pg_extension_config_dump", "admin_function", "-"),
        ("pg_stat_reset*", "admin_function", "-"),
        ("pg_stat_get_activity", "sensitive_catalog", "-"),
        ("pg_stat_get_backend_activity", "sensitive_catalog", "-"),
        ("show_all_file_settings", "sensitive_catalog", "-"),
        ("pg_hba_file_rules", "sensitive_catalog", "-"),
        ("pg_ident_file_mappings", "sensitive_catalog", "-"),
        ("pg_config", "sensitive_catalog", "-"),
        ("pg_sleep", "delay", "-"),
    ];

    /// <summary>Catalog relations every role may read that still hold what agents must not see.</summary>
    private static readonly HashSet<string> ReviewedSensitiveRelations = new(StringComparer.Ordinal)
    {
        "pg_catalog.pg_stats", "pg_catalog.pg_stats_ext", "pg_catalog.pg_stats_ext_exprs", // sample values of every column
        "pg_catalog.pg_stat_activity", "pg_catalog.pg_stat_replication",                    // other sessions' statements, clients
        "pg_catalog.pg_user_mappings", "information_schema.user_mappings",                  // foreign-server credentials
        "information_schema.user_mapping_options", "information_schema._pg_user_mappings",
        "pg_catalog.pg_largeobject_metadata",                                                // large objects
        "pg_catalog.pg_db_role_setting",                     // per-role and per-database settings (app.jwt_secret = ...)
    };

    private const string FunctionRules = """
        # PostgreSQL's built-in functions and what each can do, generated from pg_proc by PgCatalogueGenerator
        # (dotnet run --project services/policy -- catalog generate); do not edit by hand: change the rules and regenerate.
        # Built-ins are the functions initdb creates (oid < 16384) in pg_catalog and information_schema. The capability
        # of each overload, first rule that applies:
        #   1. internal and C functions: the reviewed capability of their C symbol (pg_proc.prosrc), listed in
        #      PgCatalogueGenerator.Reviewed (SQL execution, files, large objects, server state, administration,
        #      sensitive catalog data, delays); and admin_function when PUBLIC may not execute it in a fresh cluster
        #      (PostgreSQL reserves it for superusers and granted roles);
        #   2. SQL functions: the capabilities of what their body calls and reads, found by the same analysis
        #      (repeated until nothing changes);
        #   3. any other language: unvetted_function;
        #   otherwise "-": it computes a value from its arguments and the catalog, and nothing else.
        # A function a statement calls that is not here (user-defined, an extension's, a schema other than
        # pg_catalog and information_schema, an argument count no built-in accepts) is unvetted_function.
        # sql_argument: role:position:name of the argument that is SQL text (query), a relation (table), a setting
        # name set (setting) or read (setting_read); a constant there is analysed as if it were written in the statement.
        """;

    private const string OperatorRules = """
        # PostgreSQL's built-in operators, generated from pg_operator by PgCatalogueGenerator; do not edit by hand.
        # An operator can do what the function it calls (oprcode) can do; an operator not here is unvetted_function.
        """;

    private const string RelationRules = """
        # PostgreSQL's built-in catalog relations, generated from pg_class by PgCatalogueGenerator; do not edit by hand.
        # sensitive_catalog: PUBLIC may not read it in a fresh cluster, or it is one of
        # PgCatalogueGenerator.ReviewedSensitiveRelations (column statistics with sample values, other sessions'
        # statements, user mappings, large objects, per-role and per-database settings). Unqualified names resolve to
        # pg_catalog first, as in PostgreSQL.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        var connectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Postgres");
        if (string.IsNullOrEmpty(connectionString))
        {
            Console.Error.WriteLine("Set ConnectionStrings__Postgres to a PostgreSQL server's connection string.");
            return 2;
        }
        var folder = args.Length > 0 ? args[0] : Path.Combine("services", "policy", "Analysis", "Sql", "Catalogue");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var files = await GenerateAsync(connection);
        await File.WriteAllTextAsync(Path.Combine(folder, PgCatalogue.FunctionsFile), files.Functions);
        await File.WriteAllTextAsync(Path.Combine(folder, PgCatalogue.OperatorsFile), files.Operators);
        await File.WriteAllTextAsync(Path.Combine(folder, PgCatalogue.RelationsFile), files.Relations);
        Console.WriteLine($"catalogue written to {folder}");
        return 0;
    }

    private sealed class FunctionRow
    {
        public required uint Oid;
        public required string[] Facts; // schema name arguments min max kind volatility language strict returns_set public symbol
        public required string Language;
        public required string Body;
        public HashSet<string> Kinds = new(StringComparer.Ordinal);
        public string SqlArgument = "-";
    }

    public static async Task<Files> GenerateAsync(NpgsqlConnection connection)
    {
        var version = Convert.ToInt32(await Scalar(connection, "SELECT current_setting('server_version_num')::int / 10000"), CultureInfo.InvariantCulture);
        var functions = new List<FunctionRow>();
        await using (var command = new NpgsqlCommand($"""
            SELECT p.oid, n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.pronargs, p.pronargdefaults,
                   p.provariadic <> 0, p.prokind::text, p.provolatile::text, l.lanname, p.proisstrict, p.proretset,
                   p.proacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),
                   p.prosrc, CASE WHEN p.prosqlbody IS NOT NULL THEN pg_get_functiondef(p.oid) END
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid < {FirstNormalObjectId} AND n.nspname IN ('pg_catalog', 'information_schema')
            ORDER BY n.nspname COLLATE "C", p.proname COLLATE "C", pg_get_function_identity_arguments(p.oid) COLLATE "C", p.oid
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var arguments = reader.GetInt16(4);
                var defaults = reader.GetInt16(5);
                var variadic = reader.GetBoolean(6);
                var language = reader.GetString(9);
                var prosrc = reader.GetString(13);
                // A variadic parameter may also take no argument through its own overload rules: count it as optional.
                var min = Math.Max(0, arguments - defaults - (variadic ? 1 : 0));
                functions.Add(new FunctionRow
                {
                    Oid = reader.GetFieldValue<uint>(0),
                    Language = language,
                    Body = reader.IsDBNull(14) ? prosrc : reader.GetString(14),
                    Facts =
                    [
                        reader.GetString(1), reader.GetString(2), Clean(reader.GetString(3)), min.ToString(CultureInfo.InvariantCulture),
                        variadic ? "*" : arguments.ToString(CultureInfo.InvariantCulture), reader.GetString(7), reader.GetString(8), language,
                        Flag(reader.GetBoolean(10)), Flag(reader.GetBoolean(11)), Flag(reader.GetBoolean(12)),
                        language is "internal" or "c" ? prosrc : "-",
                    ],
                });
            }
        }

        var operators = new List<(string[] Facts, uint Function)>();
        await using (var command = new NpgsqlCommand($"""
            SELECT n.nspname, o.oprname, coalesce(format_type(NULLIF(o.oprleft, 0), NULL), '-'),
                   coalesce(format_type(NULLIF(o.oprright, 0), NULL), '-'),
                   pn.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', o.oprcode::oid
            FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace JOIN pg_proc p ON p.oid = o.oprcode
            JOIN pg_namespace pn ON pn.oid = p.pronamespace
            WHERE o.oid < {FirstNormalObjectId}
            ORDER BY n.nspname COLLATE "C", o.oprname COLLATE "C", format_type(o.oprleft, NULL) COLLATE "C", format_type(o.oprright, NULL) COLLATE "C", o.oid
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync())
                operators.Add(([reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)],
                    reader.GetFieldValue<uint>(5)));

        var relations = new StringBuilder(RelationRules).Append('\n').Append($"# PostgreSQL {version}\n")
            .Append("schema\tname\trelkind\tpublic_select\tcapability\n");
        await using (var command = new NpgsqlCommand($"""
            SELECT n.nspname, c.relname, c.relkind::text,
                   c.relacl IS NOT NULL AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) a WHERE a.grantee = 0 AND a.privilege_type = 'SELECT')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid < {FirstNormalObjectId} AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
              AND n.nspname IN ('pg_catalog', 'information_schema')
            ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"
            """, connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                var (schema, name, publicSelect) = (reader.GetString(0), reader.GetString(1), reader.GetBoolean(3));
                var sensitive = !publicSelect || ReviewedSensitiveRelations.Contains($"{schema}.{name}");
                relations.Append($"{schema}\t{name}\t{reader.GetString(2)}\t{Flag(publicSelect)}\t{(sensitive ? SqlCapabilities.SensitiveCatalog : "-")}\n");
            }
        }

        Classify(functions);
        var byOid = functions.ToDictionary(f => f.Oid);
        string RenderOperators() => Render(new StringBuilder(OperatorRules).Append('\n').Append($"# PostgreSQL {version}\n")
            .Append("schema\tname\tleft\tright\tfunction\tcapability\n"),
            operators.Select(o => string.Join('\t', [.. o.Facts, Capability(byOid.TryGetValue(o.Function, out var f) ? f.Kinds : [SqlCapabilities.UnvettedFunction])])));
        string RenderFunctions() => Render(new StringBuilder(FunctionRules).Append('\n').Append($"# PostgreSQL {version}\n")
            .Append("schema\tname\targuments\tmin_args\tmax_args\tkind\tvolatility\tlanguage\tstrict\treturns_set\tpublic_execute\tsymbol\tcapability\tsql_argument\n"),
            functions.Select(f => string.Join('\t', [.. f.Facts, Capability(f.Kinds), f.SqlArgument])));

        // SQL functions do what their bodies do: analyse them with the catalogue as it stands, until nothing changes.
        for (var round = 0; round < 20; round++)
        {
            var catalogue = PgCatalogue.Parse(RenderFunctions(), RenderOperators(), relations.ToString());
            var analyzer = new SqlStatementAnalyzer(catalogue);
            var changed = false;
            foreach (var function in functions.Where(f => f.Language == "sql"))
            {
                var analysis = analyzer.Analyze(function.Body);
                var kinds = analysis.Error is null
                    ? analysis.Kinds.Where(SqlCapabilities.All.Contains).ToHashSet(StringComparer.Ordinal)
                    : [SqlCapabilities.UnvettedFunction];
                if (!kinds.SetEquals(function.Kinds)) { function.Kinds = kinds; changed = true; }
            }
            if (!changed) break;
        }
        return new Files(RenderFunctions(), RenderOperators(), relations.ToString());
    }

    private static void Classify(List<FunctionRow> functions)
    {
        foreach (var function in functions)
        {
            if (function.Language is "internal" or "c")
            {
                var symbol = function.Facts[11];
                if (Reviewed.FirstOrDefault(r => Matches(r.Symbol, symbol)) is { Symbol: not null } reviewed)
                {
                    function.Kinds.UnionWith(reviewed.Kinds.Split(',').Where(k => k != "-"));
                    function.SqlArgument = reviewed.SqlArgument;
                }
                if (function.Facts[10] == "f") function.Kinds.Add(SqlCapabilities.AdminFunction);
            }
            else if (function.Language != "sql")
            {
                function.Kinds.Add(SqlCapabilities.UnvettedFunction);
            }
        }
    }

    private static bool Matches(string pattern, string symbol)
    {
        if (!pattern.Contains('*')) return pattern == symbol;
        var parts = pattern.Split('*');
        if (!symbol.StartsWith(parts[0], StringComparison.Ordinal)) return false;
        var at = parts[0].Length;
        foreach (var part in parts.Skip(1))
        {
            var found = symbol.IndexOf(part, at, StringComparison.Ordinal);
            if (found < 0) return false;
            at = found + part.Length;
        }
        return parts[^1].Length == 0 || symbol.EndsWith(parts[^1], StringComparison.Ordinal);
    }

    private static string Render(StringBuilder header, IEnumerable<string> lines)
    {
        foreach (var line in lines) header.Append(line).Append('\n');
        return header.ToString();
    }

    private static string Capability(IEnumerable<string> kinds) =>
        kinds.Any() ? string.Join(',', kinds.Order(StringComparer.Ordinal)) : "-";

    private static string Flag(bool value) => value ? "t" : "f";

    private static string Clean(string text) => text.Replace('\t', ' ').Replace('\n', ' ');

    private static async Task<object?> Scalar(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
