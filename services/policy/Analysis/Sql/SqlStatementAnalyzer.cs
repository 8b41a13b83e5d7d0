using System.Runtime.InteropServices;
using System.Text.Json;

namespace Portcullis.Policy.Analysis.Sql;

/// <summary>
/// Reads SQL with PostgreSQL's own parser (libpg_query) and walks the whole parse tree, so every table
/// counts wherever it stands: CTEs, subqueries, joins, set operations, function arguments, every statement
/// of a multi-statement string. Identifiers arrive folded and unquoted exactly as the server resolves them.
/// </summary>
public sealed class SqlStatementAnalyzer
{
    private static readonly Dictionary<string, string> StatementKinds = new(StringComparer.Ordinal)
    {
        ["SelectStmt"] = "select", ["InsertStmt"] = "insert", ["UpdateStmt"] = "update", ["DeleteStmt"] = "delete",
        ["MergeStmt"] = "merge", ["CopyStmt"] = "copy", ["TruncateStmt"] = "truncate", ["DropStmt"] = "drop",
        ["GrantStmt"] = "privilege", ["GrantRoleStmt"] = "privilege", ["CreateRoleStmt"] = "privilege",
        ["AlterRoleStmt"] = "privilege", ["DropRoleStmt"] = "privilege", ["AlterDefaultPrivilegesStmt"] = "privilege",
        ["TransactionStmt"] = "transaction", ["VariableSetStmt"] = "set", ["VariableShowStmt"] = "show",
        ["ExplainStmt"] = "explain", ["DoStmt"] = "do", ["CallStmt"] = "call", ["PrepareStmt"] = "prepare",
        ["ExecuteStmt"] = "execute", ["DeallocateStmt"] = "prepare", ["LockStmt"] = "lock", ["VacuumStmt"] = "maintenance",
        ["ClusterStmt"] = "maintenance", ["ReindexStmt"] = "maintenance", ["CheckPointStmt"] = "maintenance",
        ["ListenStmt"] = "notify", ["NotifyStmt"] = "notify", ["UnlistenStmt"] = "notify", ["LoadStmt"] = "load",
        ["CreateExtensionStmt"] = "ddl", ["AlterSystemStmt"] = "admin", ["DiscardStmt"] = "set",
    };

    // Statements whose "relation(s)" are changed, not read.
    private static readonly HashSet<string> WritingStatements = new(StringComparer.Ordinal)
    {
        "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "TruncateStmt", "CreateStmt", "AlterTableStmt",
        "IndexStmt", "RenameStmt", "CreateTrigStmt", "RuleStmt", "GrantStmt", "LockStmt", "VacuumStmt", "ClusterStmt",
        "ReindexStmt", "CommentStmt", "AlterOwnerStmt", "CreatePolicyStmt", "AlterPolicyStmt", "RefreshMatViewStmt",
    };

    private static readonly Dictionary<string, string> DangerousFunctions = new(StringComparer.Ordinal)
    {
        ["pg_read_file"] = "file_access", ["pg_read_binary_file"] = "file_access", ["pg_stat_file"] = "file_access",
        ["pg_ls_dir"] = "file_access", ["pg_ls_logdir"] = "file_access", ["pg_ls_waldir"] = "file_access",
        ["pg_ls_tmpdir"] = "file_access", ["pg_ls_archive_statusdir"] = "file_access", ["pg_ls_logicalmapdir"] = "file_access",
        ["pg_ls_logicalsnapdir"] = "file_access", ["pg_ls_replslotdir"] = "file_access", ["pg_file_write"] = "file_access",
        ["pg_file_rename"] = "file_access", ["pg_file_unlink"] = "file_access", ["lo_import"] = "file_access",
        ["lo_export"] = "file_access",
        ["dblink"] = "remote_access", ["dblink_exec"] = "remote_access", ["dblink_connect"] = "remote_access",
        ["dblink_connect_u"] = "remote_access", ["dblink_send_query"] = "remote_access", ["dblink_open"] = "remote_access",
        ["pg_terminate_backend"] = "admin_function", ["pg_cancel_backend"] = "admin_function",
        ["pg_reload_conf"] = "admin_function", ["pg_rotate_logfile"] = "admin_function", ["set_config"] = "admin_function",
        ["pg_promote"] = "admin_function", ["pg_switch_wal"] = "admin_function",
    };

    static SqlStatementAnalyzer()
    {
        // Fail at start-up, not on the first agent request, when the parser library is missing.
        _ = new SqlStatementAnalyzer().Analyze("SELECT 1");
    }

    public SqlAnalysis Analyze(string sql)
    {
        var result = PgQueryNative.Parse(sql);
        try
        {
            if (result.Error != IntPtr.Zero)
            {
                var error = Marshal.PtrToStructure<PgQueryNative.Error>(result.Error);
                var message = Marshal.PtrToStringUTF8(error.Message) ?? "syntax error";
                return SqlAnalysis.Rejected(error.CursorPosition > 0 ? $"{message} (at character {error.CursorPosition})" : message);
            }
            using var tree = JsonDocument.Parse(Utf8(result.ParseTree));
            return Walk(tree.RootElement);
        }
        finally
        {
            PgQueryNative.Free(result);
        }
    }

    /// <summary>The parser's JSON as UTF-8 bytes, copied once from native memory (no round trip through a string).</summary>
    private static unsafe ReadOnlyMemory<byte> Utf8(IntPtr text)
    {
        if (text == IntPtr.Zero) return "{}"u8.ToArray();
        var span = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpanFromNullTerminated((byte*)text);
        return span.ToArray();
    }

    private static SqlAnalysis Walk(JsonElement root)
    {
        var state = new WalkState();
        if (root.TryGetProperty("stmts", out var statements))
        {
            foreach (var entry in statements.EnumerateArray())
            {
                if (!entry.TryGetProperty("stmt", out var statement)) continue;
                foreach (var node in statement.EnumerateObject())
                {
                    state.Statements.Add(KindOf(node.Name, node.Value));
                    VisitStatement(node.Name, node.Value, state);
                }
            }
        }
        if (state.Statements.Count == 0)
            return SqlAnalysis.Rejected("the string holds no SQL statement");

        // A reference to a CTE's own name is not a table (the tables inside the CTE were counted already).
        state.TablesRead.RemoveWhere(t => t.Schema is null && state.CteNames.Contains(t.Name));
        return new SqlAnalysis
        {
            Statements = state.Statements,
            Kinds = state.Kinds,
            TablesRead = state.TablesRead,
            TablesWritten = state.TablesWritten,
            Functions = state.Functions,
            Columns = state.Columns,
            SearchPath = state.SearchPath.Count > 0 ? [.. SqlAnalysis.DefaultSearchPath, .. state.SearchPath] : SqlAnalysis.DefaultSearchPath,
        };
    }

    private static string KindOf(string node, JsonElement value) => node switch
    {
        _ when StatementKinds.TryGetValue(node, out var kind) => kind,
        "DropStmt" => "drop",
        _ when node.StartsWith("Create", StringComparison.Ordinal) || node.StartsWith("Alter", StringComparison.Ordinal)
            || node.StartsWith("Drop", StringComparison.Ordinal) || node is "RenameStmt" or "IndexStmt" or "ViewStmt"
            or "CommentStmt" or "RuleStmt" or "DefineStmt" => "ddl",
        _ => node.EndsWith("Stmt", StringComparison.Ordinal) ? node[..^4].ToLowerInvariant() : node.ToLowerInvariant(),
    };

    private static void VisitStatement(string node, JsonElement value, WalkState state)
    {
        var kind = KindOf(node, value);
        state.Kinds.Add(kind);
        if (kind is "drop" or "truncate") state.Kinds.Add("ddl");
        if (kind == "ddl" && node.StartsWith("Drop", StringComparison.Ordinal)) state.Kinds.Add("drop");

        switch (node)
        {
            case "VariableSetStmt" when value.TryGetProperty("name", out var setting) && setting.GetString() == "search_path":
                // SET search_path changes where later unqualified names resolve: every schema named counts.
                if (value.TryGetProperty("args", out var schemas))
                    foreach (var schema in schemas.EnumerateArray())
                        if (schema.TryGetProperty("A_Const", out var constant) && constant.TryGetProperty("sval", out var text)
                            && text.TryGetProperty("sval", out var name))
                            state.SearchPath.Add(name.GetString()!);
                return;
            case "CopyStmt":
                var isFrom = value.TryGetProperty("is_from", out var from) && from.GetBoolean();
                var isProgram = value.TryGetProperty("is_program", out var program) && program.GetBoolean();
                state.Kinds.Add(isFrom ? "copy_from" : "copy_to");
                if (isProgram)
                {
                    state.Kinds.Add(isFrom ? "copy_from_program" : "copy_to_program");
                    state.Kinds.Add("program_execution");
                }
                else if (value.TryGetProperty("filename", out _))
                {
                    state.Kinds.Add("file_access"); // COPY to or from a server-side file
                }
                if (value.TryGetProperty("relation", out var copied))
                    AddTable(copied, isFrom, state);
                Visit(value, state, skip: "relation");
                return;
            case "DropStmt":
                DropObjects(value, state);
                Visit(value, state);
                return;
            case "SelectStmt" when value.TryGetProperty("intoClause", out var into):
                state.Kinds.Add("ddl"); // SELECT ... INTO creates a table
                if (into.TryGetProperty("rel", out var created)) AddTable(created, true, state);
                Visit(value, state, skip: "intoClause");
                return;
            case "CreateTableAsStmt" when value.TryGetProperty("into", out var target) && target.TryGetProperty("rel", out var rel):
                AddTable(rel, true, state);
                Visit(value, state, skip: "into");
                return;
            case "ExplainStmt" when value.TryGetProperty("query", out var explained):
                // EXPLAIN ANALYZE runs the statement: its kinds count as if it ran.
                foreach (var inner in explained.EnumerateObject()) VisitStatement(inner.Name, inner.Value, state);
                return;
        }

        if (WritingStatements.Contains(node))
        {
            foreach (var property in value.EnumerateObject())
            {
                if (property.Name == "relation") AddTable(property.Value, true, state);
                else if (property.Name == "relations")
                    foreach (var item in property.Value.EnumerateArray()) AddTable(Unwrap(item), true, state);
            }
            Visit(value, state, skip: "relation", skip2: "relations");
            return;
        }
        Visit(value, state);
    }

    private static void Visit(JsonElement element, WalkState state, string? skip = null, string? skip2 = null)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                if (element.TryGetProperty("relname", out _))
                {
                    AddTable(element, false, state);
                    return;
                }
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == skip || property.Name == skip2) continue;
                    switch (property.Name)
                    {
                        case "FuncCall":
                            AddFunction(property.Value, state);
                            Visit(property.Value, state);
                            break;
                        case "ColumnRef":
                            AddColumn(property.Value, state);
                            break;
                        case "CommonTableExpr":
                            if (property.Value.TryGetProperty("ctename", out var name)) state.CteNames.Add(name.GetString()!);
                            Visit(property.Value, state);
                            break;
                        default:
                            if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                            {
                                // A statement nested in another (CTE bodies with DML, rules, EXPLAIN) counts as its own.
                                if (StatementKinds.ContainsKey(property.Name) && property.Name != "SelectStmt")
                                    VisitStatement(property.Name, property.Value, state);
                                else
                                    Visit(property.Value, state);
                            }
                            break;
                    }
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray()) Visit(item, state);
                break;
        }
    }

    private static JsonElement Unwrap(JsonElement item) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty("RangeVar", out var inner) ? inner : item;

    private static void AddTable(JsonElement rangeVar, bool written, WalkState state)
    {
        rangeVar = Unwrap(rangeVar);
        if (!rangeVar.TryGetProperty("relname", out var relname)) return;
        var schema = rangeVar.TryGetProperty("schemaname", out var s) ? s.GetString() : null;
        var table = new TableReference(schema, relname.GetString()!);
        (written ? state.TablesWritten : state.TablesRead).Add(table);
    }

    private static void DropObjects(JsonElement drop, WalkState state)
    {
        var type = drop.TryGetProperty("removeType", out var t) ? t.GetString() : null;
        if (type is not ("OBJECT_TABLE" or "OBJECT_VIEW" or "OBJECT_MATVIEW" or "OBJECT_FOREIGN_TABLE" or "OBJECT_SEQUENCE"
            or "OBJECT_INDEX") || !drop.TryGetProperty("objects", out var objects)) return;
        foreach (var item in objects.EnumerateArray())
        {
            if (!item.TryGetProperty("List", out var list) || !list.TryGetProperty("items", out var names)) continue;
            var parts = names.EnumerateArray().Select(StringValue).Where(p => p is not null).ToArray();
            if (parts.Length == 0) continue;
            state.TablesWritten.Add(parts.Length == 1
                ? new TableReference(null, parts[0]!)
                : new TableReference(parts[^2], parts[^1]!));
        }
    }

    private static void AddFunction(JsonElement call, WalkState state)
    {
        if (!call.TryGetProperty("funcname", out var names)) return;
        var name = names.EnumerateArray().Select(StringValue).LastOrDefault(n => n is not null);
        if (name is null) return;
        state.Functions.Add(name);
        if (DangerousFunctions.TryGetValue(name, out var kind)) state.Kinds.Add(kind);
    }

    private static void AddColumn(JsonElement columnRef, WalkState state)
    {
        if (!columnRef.TryGetProperty("fields", out var fields)) return;
        var last = fields.EnumerateArray().LastOrDefault();
        if (last.ValueKind != JsonValueKind.Object) return;
        if (last.TryGetProperty("A_Star", out _)) state.Columns.Add("*");
        else if (StringValue(last) is { } name) state.Columns.Add(name);
    }

    private static string? StringValue(JsonElement node) =>
        node.ValueKind == JsonValueKind.Object && node.TryGetProperty("String", out var s) && s.TryGetProperty("sval", out var v)
            ? v.GetString()
            : null;

    private sealed class WalkState
    {
        public readonly List<string> Statements = [];
        public readonly HashSet<string> Kinds = new(StringComparer.Ordinal);
        public readonly HashSet<TableReference> TablesRead = [];
        public readonly HashSet<TableReference> TablesWritten = [];
        public readonly HashSet<string> Functions = new(StringComparer.Ordinal);
        public readonly HashSet<string> Columns = new(StringComparer.Ordinal);
        public readonly HashSet<string> CteNames = new(StringComparer.Ordinal);
        public readonly List<string> SearchPath = [];
    }
}
