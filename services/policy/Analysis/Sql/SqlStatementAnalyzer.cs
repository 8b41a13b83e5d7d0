using System.Runtime.InteropServices;
using System.Text.Json;
using Portcullis.Policy.Analysis.Sql.Catalogue;

namespace Portcullis.Policy.Analysis.Sql;

/// <summary>
/// Reads SQL with PostgreSQL's own parser (libpg_query) and walks the whole parse tree, so every table
/// counts wherever it stands: CTEs, subqueries, joins, set operations, function arguments, every statement
/// of a multi-statement string. Identifiers arrive folded and unquoted exactly as the server resolves them.
/// Functions and operators are judged by what they can do, from the catalogue generated from pg_proc
/// (<see cref="PgCatalogue"/>); SQL text a function runs is analysed too when it is a constant.
/// </summary>
public sealed class SqlStatementAnalyzer(PgCatalogue catalogue)
{
    // Constant SQL inside constant SQL, this deep, is refused as unseen rather than followed further.
    private const int MaxNesting = 8;

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

    /// <summary>
    /// Settings that change only how values are presented or how the planner plans: SET of any other setting is
    /// unsafe_setting (timeouts, read-only, roles, replication role, large-object privileges, encodings, ...).
    /// </summary>
    private static readonly HashSet<string> PresentationSettings = new(StringComparer.Ordinal)
    {
        "datestyle", "intervalstyle", "timezone", "extra_float_digits", "application_name", "lc_monetary", "lc_numeric",
        "lc_time", "jit", "random_page_cost", "seq_page_cost", "cpu_tuple_cost", "cpu_index_tuple_cost",
        "cpu_operator_cost", "effective_cache_size", "plan_cache_mode", "join_collapse_limit", "from_collapse_limit",
        "constraint_exclusion", "cursor_tuple_fraction", "geqo", "parallel_setup_cost", "parallel_tuple_cost",
    };

    /// <summary>
    /// The settings an agent may give a value of its own to, wherever the SQL runs: the presentation and planner settings
    /// above, and the transaction modes of SET TRANSACTION / SET SESSION CHARACTERISTICS (isolation levels, as SQLAlchemy
    /// and drivers send them; read-only obligations are set again by the gateway after them). SET search_path is followed
    /// by the analysis and not counted here; set_config('search_path', ...) or an UPDATE of pg_settings is, since the
    /// analysis cannot follow it. Everything else is refused by the policy's built-in rule whatever the rules say, because
    /// the gateway judged the statement assuming PostgreSQL's defaults: standard_conforming_strings and backslash_quote
    /// change how the server splits a string the parser here read as one literal, client_encoding how it reads the bytes,
    /// role and session_authorization whose rights run it, custom settings (app.tenant) what row-level security lets
    /// through, timeouts and read-only the obligations.
    /// </summary>
    public static bool MaySet(string? name) =>
        name is not null && (PresentationSettings.Contains(name) || name.StartsWith("enable_", StringComparison.Ordinal)
                             || name is "transaction" or "session characteristics");

    public SqlStatementAnalyzer() : this(PgCatalogue.Default)
    {
    }

    static SqlStatementAnalyzer()
    {
        // Fail at start-up, not on the first agent request, when the parser library is missing; and load the
        // catalogue and warm the walk then, so the first decision meets its deadline.
        _ = new SqlStatementAnalyzer(PgCatalogue.Default).Analyze("WITH w AS (SELECT 1) SELECT lower(x) || 'a' FROM w WHERE x = 1");
    }

    public SqlAnalysis Analyze(string sql)
    {
        var state = new WalkState();
        if (WalkText(sql, state, depth: 0) is { } error) return SqlAnalysis.Rejected(error);
        if (state.Statements.Count == 0)
            return SqlAnalysis.Rejected("the string holds no SQL statement");
        RoleSettings(state);
        // pg_settings takes UPDATE (its rule calls set_config for each row changed): a SET of whatever the WHERE names.
        if (state.TablesWritten.Any(t => t.Name == "pg_settings" && t.Schema is null or "pg_catalog")) AddSetting(null, state);
        return new SqlAnalysis
        {
            Statements = state.Statements,
            Kinds = state.Kinds,
            TablesRead = state.TablesRead,
            TablesWritten = state.TablesWritten,
            Functions = state.Functions,
            Columns = state.Columns,
            SearchPath = state.SearchPath.Count > 0 ? [.. SqlAnalysis.DefaultSearchPath, .. state.SearchPath] : SqlAnalysis.DefaultSearchPath,
            SettingsChanged = state.SettingsChanged,
        };
    }

    private sealed record Parsed(JsonDocument? Tree, string? Error);

    private static Parsed Parse(string sql)
    {
        var result = PgQueryNative.Parse(sql);
        try
        {
            if (result.Error != IntPtr.Zero)
            {
                var error = Marshal.PtrToStructure<PgQueryNative.Error>(result.Error);
                var message = Marshal.PtrToStringUTF8(error.Message) ?? "syntax error";
                return new Parsed(null, error.CursorPosition > 0 ? $"{message} (at character {error.CursorPosition})" : message);
            }
            return new Parsed(JsonDocument.Parse(Utf8(result.ParseTree)), null);
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

    /// <summary>Walks every statement of a text; returns the parser's message when the text does not parse.</summary>
    private string? WalkText(string sql, WalkState state, int depth)
    {
        var parsed = Parse(sql);
        if (parsed.Tree is null) return parsed.Error ?? "syntax error";
        using var tree = parsed.Tree;
        // Names of CTEs exist in their own statement only: a text run by a function starts with none.
        var outerScopes = state.CteScopes;
        state.CteScopes = [];
        state.Depth = depth;
        try
        {
            if (!tree.RootElement.TryGetProperty("stmts", out var statements)) return null;
            foreach (var entry in statements.EnumerateArray())
            {
                if (!entry.TryGetProperty("stmt", out var statement)) continue;
                foreach (var node in statement.EnumerateObject())
                {
                    if (depth == 0) state.Statements.Add(KindOf(node.Name, node.Value));
                    VisitStatement(node.Name, node.Value, state);
                }
            }
            return null;
        }
        finally
        {
            state.CteScopes = outerScopes;
            state.Depth = depth > 0 ? depth - 1 : 0;
        }
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

    private void VisitStatement(string node, JsonElement value, WalkState state)
    {
        var kind = KindOf(node, value);
        state.Kinds.Add(kind);
        if (kind is "drop" or "truncate") state.Kinds.Add("ddl");
        if (kind == "ddl" && node.StartsWith("Drop", StringComparison.Ordinal)) state.Kinds.Add("drop");

        switch (node)
        {
            case "VariableSetStmt":
                SetStatement(value, state);
                return;
            case "VariableShowStmt":
                ReadSetting(value.TryGetProperty("name", out var shown) ? shown.GetString() : null, state);
                return;
            case "DiscardStmt":
                // DISCARD ALL also resets the session's settings and its authorization (SET SESSION AUTHORIZATION DEFAULT).
                if (value.TryGetProperty("target", out var target) && target.GetString() == "DISCARD_ALL")
                    AddSetting(null, state, restores: true);
                return;
            case "DoStmt":
                DoBlock(value, state);
                return;
            case "PrepareStmt":
                if (value.TryGetProperty("name", out var prepared)) state.Prepared.Add(prepared.GetString()!);
                Visit(value, state);
                return;
            case "ExecuteStmt":
                // A statement prepared outside this text runs unseen.
                if (!value.TryGetProperty("name", out var executed) || !state.Prepared.Contains(executed.GetString()!))
                    Unseen(state);
                Visit(value, state);
                return;
            case "DeclareCursorStmt":
                if (value.TryGetProperty("portalname", out var declared)) state.Cursors.Add(declared.GetString()!);
                Visit(value, state);
                return;
            case "FetchStmt":
                if (!value.TryGetProperty("portalname", out var fetched) || !state.Cursors.Contains(fetched.GetString()!))
                    Unseen(state);
                return;
            case "CallStmt" when value.TryGetProperty("funccall", out var procedure):
                AddFunction(procedure, state); // PostgreSQL has no built-in procedures: always unvetted
                Visit(procedure, state);
                return;
            case "NotifyStmt" or "ListenStmt":
                state.Kinds.Add(SqlCapabilities.ServerState);
                return;
            case "AlterRoleSetStmt" or "AlterDatabaseSetStmt":
                // ALTER ROLE CURRENT_USER SET ... needs no privilege and is the default of every later session of the login:
                // every connection the gateway opens, for every identity, and what RESET ALL and DISCARD ALL go back to.
                if (value.TryGetProperty("setstmt", out var roleSetting))
                {
                    if (roleSetting.TryGetProperty("VariableSetStmt", out var wrapped)) roleSetting = wrapped;
                    var setKind = roleSetting.TryGetProperty("kind", out var sk) ? sk.GetString() : null;
                    var setName = roleSetting.TryGetProperty("name", out var sn) ? sn.GetString()?.ToLowerInvariant() : null;
                    var restores = setKind is "VAR_RESET" or "VAR_RESET_ALL";
                    AddSetting(setKind == "VAR_RESET_ALL" ? "all" : setName, state, restores);
                    // Whatever the setting: a default for every later session would cross from this request to all others.
                    if (!restores) state.SettingsChanged.Add($"{setName ?? "a setting"} as a role's or database's default");
                }
                Visit(value, state);
                return;
            case "CopyStmt":
                var isFrom = value.TryGetProperty("is_from", out var from) && from.GetBoolean();
                var isProgram = value.TryGetProperty("is_program", out var program) && program.GetBoolean();
                state.Kinds.Add(isFrom ? "copy_from" : "copy_to");
                if (isProgram)
                {
                    state.Kinds.Add(isFrom ? "copy_from_program" : "copy_to_program");
                    state.Kinds.Add(SqlCapabilities.ProgramExecution);
                }
                else if (value.TryGetProperty("filename", out _))
                {
                    state.Kinds.Add(SqlCapabilities.FileAccess); // COPY to or from a server-side file
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
            case "CreateTableAsStmt" when value.TryGetProperty("into", out var target2) && target2.TryGetProperty("rel", out var rel):
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

    private void Visit(JsonElement element, WalkState state, string? skip = null, string? skip2 = null, bool scoped = false)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                if (element.TryGetProperty("relname", out _))
                {
                    AddTable(element, false, state);
                    return;
                }
                if (!scoped && element.TryGetProperty("withClause", out var with))
                {
                    WithScope(element, with, state, skip, skip2);
                    return;
                }
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == skip || property.Name == skip2 || (scoped && property.Name == "withClause")) continue;
                    switch (property.Name)
                    {
                        case "FuncCall":
                            AddFunction(property.Value, state);
                            Visit(property.Value, state);
                            break;
                        case "ColumnRef":
                            AddColumn(property.Value, state);
                            break;
                        case "A_Expr":
                            OperatorExpression(property.Value, state);
                            Visit(property.Value, state);
                            break;
                        case "SubLink":
                            if (property.Value.TryGetProperty("operName", out var subOperator)) AddOperator(subOperator, state);
                            Visit(property.Value, state);
                            break;
                        case "SortBy":
                            if (property.Value.TryGetProperty("useOp", out var sortOperator)) AddOperator(sortOperator, state);
                            Visit(property.Value, state);
                            break;
                        case "RangeTableSample":
                            // TABLESAMPLE method(...) calls the method's handler function.
                            if (property.Value.TryGetProperty("method", out var method)) ClassifyCall(method, 1, state);
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

    /// <summary>
    /// A WITH clause, scoped as PostgreSQL scopes it: a CTE's name exists in the rest of its own statement and in
    /// the CTEs after it (with RECURSIVE, in every CTE of the clause, its own included), never in another
    /// statement; inside its own body a non-recursive CTE's name still means the table.
    /// </summary>
    private void WithScope(JsonElement statement, JsonElement with, WalkState state, string? skip, string? skip2)
    {
        var recursive = with.TryGetProperty("recursive", out var r) && r.GetBoolean();
        var ctes = with.TryGetProperty("ctes", out var list) ? list.EnumerateArray().ToArray() : [];
        var names = ctes.Select(c => c.TryGetProperty("CommonTableExpr", out var cte) && cte.TryGetProperty("ctename", out var n) ? n.GetString() : null)
            .OfType<string>().ToArray();
        var scope = new HashSet<string>(StringComparer.Ordinal);
        state.CteScopes.Add(scope);
        try
        {
            if (recursive) scope.UnionWith(names);
            foreach (var item in ctes)
            {
                if (!item.TryGetProperty("CommonTableExpr", out var cte)) continue;
                Visit(cte, state);
                if (cte.TryGetProperty("ctename", out var name)) scope.Add(name.GetString()!);
            }
            Visit(statement, state, skip, skip2, scoped: true);
        }
        finally
        {
            state.CteScopes.RemoveAt(state.CteScopes.Count - 1);
        }
    }

    private static JsonElement Unwrap(JsonElement item) =>
        item.ValueKind == JsonValueKind.Object && item.TryGetProperty("RangeVar", out var inner) ? inner : item;

    private void AddTable(JsonElement rangeVar, bool written, WalkState state)
    {
        rangeVar = Unwrap(rangeVar);
        if (!rangeVar.TryGetProperty("relname", out var relname)) return;
        var schema = rangeVar.TryGetProperty("schemaname", out var s) ? s.GetString() : null;
        var name = relname.GetString()!;
        // An unqualified name that a CTE in scope defines is that CTE, whose own tables were counted already.
        if (!written && schema is null && state.CteScopes.Any(scope => scope.Contains(name))) return;
        (written ? state.TablesWritten : state.TablesRead).Add(new TableReference(schema, name));
        state.Kinds.UnionWith(catalogue.RelationKinds(schema, name));
        if (schema is null or "pg_catalog" && RoleSettingViews.ContainsKey(name))
        {
            // Renamed columns (pg_roles AS r(a, b, ...)) hide which one is the settings column.
            var alias = rangeVar.TryGetProperty("alias", out var a) ? a : default;
            if (alias.ValueKind == JsonValueKind.Object && alias.TryGetProperty("colnames", out _)) state.Kinds.Add(SqlCapabilities.SensitiveCatalog);
            state.RoleSettingNames.Add(alias.ValueKind == JsonValueKind.Object && alias.TryGetProperty("aliasname", out var n) ? n.GetString()! : name);
        }
        if (schema is null)
            foreach (var path in state.SearchPath)
                state.Kinds.UnionWith(catalogue.RelationKinds(path, name));
    }

    /// <summary>
    /// Views every role may read whose one column holds each role's own settings (ALTER ROLE ... SET app.secret = ...):
    /// that column, * and the whole row are a sensitive catalog read; the other columns are not.
    /// </summary>
    private static readonly Dictionary<string, string> RoleSettingViews = new(StringComparer.Ordinal)
    {
        ["pg_roles"] = "rolconfig", ["pg_user"] = "useconfig",
    };

    private static void RoleSettings(WalkState state)
    {
        if (state.RoleSettingNames.Count == 0) return;
        if (state.Columns.Contains("*") || RoleSettingViews.Values.Any(state.Columns.Contains) || state.RoleSettingNames.Any(state.Columns.Contains))
            state.Kinds.Add(SqlCapabilities.SensitiveCatalog);
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

    private void AddFunction(JsonElement call, WalkState state)
    {
        if (!call.TryGetProperty("funcname", out var names)) return;
        var arguments = call.TryGetProperty("args", out var args) ? args.EnumerateArray().ToArray() : [];
        foreach (var function in ClassifyCall(names, arguments.Length, state))
        {
            if (function.SqlArgument is not { } sqlArgument) continue;
            var argument = ArgumentFor(sqlArgument, arguments);
            var text = argument is { } found ? Constant(found) : null;
            switch (sqlArgument.Role)
            {
                case SqlTextArgument.Query:
                    if (text is null || !AnalyseNested(text, state)) Unseen(state);
                    break;
                case SqlTextArgument.Table:
                    // regclass input reads a (qualified, quoted) relation name, or an oid that names no table we can see.
                    if (text is null || text.Trim().All(char.IsAsciiDigit) || !AnalyseNested("TABLE " + text, state)) Unseen(state);
                    break;
                case SqlTextArgument.Setting:
                    AddSetting(text?.Trim().ToLowerInvariant(), state);
                    break;
                case SqlTextArgument.SettingRead:
                    ReadSetting(text, state);
                    break;
            }
        }
    }

    /// <summary>
    /// Classifies a call by the built-in overloads it could reach and returns them. None: the call reaches a
    /// user-defined or extension function (or fails), so it is unvetted.
    /// </summary>
    private IReadOnlyList<PgFunction> ClassifyCall(JsonElement names, int arguments, WalkState state)
    {
        var parts = names.EnumerateArray().Select(StringValue).ToArray();
        if (parts.Length == 0 || parts[^1] is not { } name) return [];
        var schema = parts.Length > 1 ? parts[^2] : null;
        state.Functions.Add(name);
        var candidates = catalogue.FunctionCandidates(schema, name, arguments);
        if (candidates.Count == 0)
        {
            state.Kinds.Add(SqlCapabilities.UnvettedFunction);
            state.Kinds.UnionWith(PgCatalogue.KnownExtensionKinds(name));
            return [];
        }
        // With pg_catalog set later in search_path, an unqualified name may reach a function of another schema first.
        if (schema is null && state.PgCatalogNotFirst) state.Kinds.Add(SqlCapabilities.UnvettedFunction);
        foreach (var candidate in candidates) state.Kinds.UnionWith(candidate.Capabilities);
        return candidates;
    }

    private static JsonElement? ArgumentFor(SqlTextArgument wanted, JsonElement[] arguments)
    {
        foreach (var argument in arguments)
            if (argument.TryGetProperty("NamedArgExpr", out var named) && named.TryGetProperty("name", out var name)
                && name.GetString() == wanted.Name && named.TryGetProperty("arg", out var value))
                return value;
        if (wanted.Position < arguments.Length && !arguments[wanted.Position].TryGetProperty("NamedArgExpr", out _))
            return arguments[wanted.Position];
        return null;
    }

    /// <summary>A string constant, also under casts and COLLATE; anything computed is null.</summary>
    private static string? Constant(JsonElement node)
    {
        while (true)
        {
            if (node.TryGetProperty("TypeCast", out var cast) && cast.TryGetProperty("arg", out var castArg)) node = castArg;
            else if (node.TryGetProperty("CollateClause", out var collate) && collate.TryGetProperty("arg", out var collated)) node = collated;
            else break;
        }
        return node.TryGetProperty("A_Const", out var constant) && constant.TryGetProperty("sval", out var sval)
            && sval.TryGetProperty("sval", out var text) ? text.GetString() : null;
    }

    /// <summary>SQL text a function runs counts as if written in the statement; false when it cannot be read.</summary>
    private bool AnalyseNested(string text, WalkState state)
    {
        if (state.Depth + 1 > MaxNesting) return false;
        state.Kinds.Add(SqlCapabilities.SqlExecution);
        return WalkText(text, state, state.Depth + 1) is null;
    }

    private static void Unseen(WalkState state)
    {
        state.Kinds.Add(SqlCapabilities.SqlExecution);
        state.Kinds.Add(SqlCapabilities.DynamicSql);
    }

    private void OperatorExpression(JsonElement expression, WalkState state)
    {
        var kind = expression.TryGetProperty("kind", out var k) ? k.GetString() : null;
        if (kind is "AEXPR_BETWEEN" or "AEXPR_NOT_BETWEEN" or "AEXPR_BETWEEN_SYM" or "AEXPR_NOT_BETWEEN_SYM")
        {
            // BETWEEN is a keyword: PostgreSQL rewrites it to >= and <=.
            foreach (var comparison in new[] { ">=", "<=" })
                if (catalogue.Operator(null, comparison) is { } kinds) state.Kinds.UnionWith(kinds);
            return;
        }
        if (expression.TryGetProperty("name", out var name)) AddOperator(name, state);
    }

    private void AddOperator(JsonElement names, WalkState state)
    {
        var parts = names.EnumerateArray().Select(StringValue).ToArray();
        if (parts.Length == 0 || parts[^1] is not { } name) return;
        var schema = parts.Length > 1 ? parts[^2] : null;
        if (catalogue.Operator(schema, name) is { } kinds)
        {
            state.Kinds.UnionWith(kinds);
            if (schema is null && state.PgCatalogNotFirst) state.Kinds.Add(SqlCapabilities.UnvettedFunction);
        }
        else
        {
            state.Kinds.Add(SqlCapabilities.UnvettedFunction);
        }
    }

    private void SetStatement(JsonElement value, WalkState state)
    {
        var kind = value.TryGetProperty("kind", out var k) ? k.GetString() : null;
        var name = value.TryGetProperty("name", out var n) ? n.GetString()!.ToLowerInvariant() : null;
        // RESET x and SET x TO DEFAULT go back to the session's default; anything else gives a value.
        var restores = kind is "VAR_RESET" or "VAR_RESET_ALL" or "VAR_SET_DEFAULT";
        if (kind == "VAR_RESET_ALL" || name is null)
        {
            // RESET ALL leaves role and session_authorization alone (GUC_NO_RESET_ALL), and resets every other setting.
            AddSetting("all", state, restores);
            return;
        }
        if (name == "search_path")
        {
            // SET search_path changes where later unqualified names resolve: every schema named counts.
            if (kind == "VAR_SET_VALUE" && value.TryGetProperty("args", out var schemas))
            {
                var named = schemas.EnumerateArray().Select(Constant).OfType<string>().ToList();
                state.SearchPath.AddRange(named.Where(s => s != "pg_catalog"));
                if (named.IndexOf("pg_catalog") > 0) state.PgCatalogNotFirst = true;
            }
            return;
        }
        AddSetting(name, state, restores);
    }

    /// <summary>
    /// A setting changed by SET, RESET, set_config or an UPDATE of pg_settings; null when it is not known which (a computed
    /// name, an UPDATE's WHERE, DISCARD ALL). <paramref name="restores"/>: it goes back to the session's default (RESET,
    /// SET ... TO DEFAULT, DISCARD ALL) rather than taking a value the agent chose.
    /// </summary>
    private static void AddSetting(string? name, WalkState state, bool restores = false)
    {
        if (!restores && !MaySet(name)) state.SettingsChanged.Add(name ?? "*");
        if (name is not null && (PresentationSettings.Contains(name) || name.StartsWith("enable_", StringComparison.Ordinal)))
            return;
        state.Kinds.Add(SqlCapabilities.UnsafeSetting);
        if (name is null or "role" or "session_authorization") state.Kinds.Add("privilege");
        if (name is null or "search_path" or "all") state.PgCatalogNotFirst = true;
    }

    /// <summary>
    /// Reading a setting (SHOW, current_setting): PostgreSQL guards its own settings that hold secrets (superuser only),
    /// but a custom one (a dotted name such as app.jwt_secret) is readable by every role, and is where deployments keep
    /// secrets (ALTER DATABASE/ROLE ... SET app.secret = ...). So a custom setting, or one named at run time, is read
    /// as a sensitive catalog. SHOW ALL and pg_settings never list custom placeholders.
    /// </summary>
    private static void ReadSetting(string? name, WalkState state)
    {
        if (name is null || name.Contains('.', StringComparison.Ordinal)) state.Kinds.Add(SqlCapabilities.SensitiveCatalog);
    }

    /// <summary>A DO block runs procedural code whose SQL is not analysed; an untrusted language runs programs.</summary>
    private static void DoBlock(JsonElement value, WalkState state)
    {
        Unseen(state);
        var language = "plpgsql";
        if (value.TryGetProperty("args", out var args))
            foreach (var arg in args.EnumerateArray())
                if (arg.TryGetProperty("DefElem", out var element) && element.TryGetProperty("defname", out var defname)
                    && defname.GetString() == "language" && element.TryGetProperty("arg", out var languageName)
                    && StringValue(languageName) is { } named)
                    language = named.ToLowerInvariant();
        if (language == "plpgsql") return;
        state.Kinds.Add(language.EndsWith('u') ? SqlCapabilities.ProgramExecution : SqlCapabilities.UnvettedFunction);
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
        /// <summary>The names (aliases) under which pg_roles or pg_user is read in the statement.</summary>
        public readonly HashSet<string> RoleSettingNames = new(StringComparer.Ordinal);
        public readonly List<string> SearchPath = [];
        public readonly HashSet<string> SettingsChanged = new(StringComparer.Ordinal);
        public readonly HashSet<string> Prepared = new(StringComparer.Ordinal);
        public readonly HashSet<string> Cursors = new(StringComparer.Ordinal);
        /// <summary>The CTE names in scope, innermost last.</summary>
        public List<HashSet<string>> CteScopes = [];
        public bool PgCatalogNotFirst;
        public int Depth;
    }
}
