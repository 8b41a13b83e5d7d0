using System.Runtime.InteropServices;
using System.Text.Json;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Policy.Analysis.Sql;

/// <summary>
/// Keeps masked columns masked wherever they would flow, by refusing every statement that computes on one.
/// The gateway masks a result column by its origin (table and attribute in the row description), and only a bare
/// column reference in the outermost select list keeps one: anything computed from a masked column (a function,
/// a cast, an aggregate, a set operation, a subquery) comes back with none, and a predicate (WHERE, JOIN ON,
/// HAVING, ORDER BY, ...) tests the value without returning it. So a reference to a masked column is allowed
/// only bare (optionally aliased or qualified) in the target list of a statement's outermost SELECT, or bare in
/// a top-level RETURNING list; `*` and `t.*` only there too. Names resolve conservatively: a qualified name
/// through the FROM aliases of its scope and the outer ones; an unqualified name is masked when any relation
/// in scope has a masked column of that name; a table without a schema matches masked columns of that table
/// in any schema (the connection's search_path is not known here). When in doubt, the statement is refused.
/// </summary>
public static class MaskedColumnFlow
{
    // Statistics views and catalogues hold samples of every column's values (most common values, histograms).
    private static readonly HashSet<string> StatisticsRelations = new(StringComparer.OrdinalIgnoreCase)
    {
        "pg_stats", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic", "pg_statistic_ext", "pg_statistic_ext_data",
    };

    static MaskedColumnFlow()
    {
        // Fail at start-up, not on the first agent request (and have the walk compiled before the first deadline).
        var masked = MaskedColumns.For(new MaskedColumnRules { Rules = [new MaskedColumnRules.Rule { Columns = ["s.t.c"] }] }, "warm-up");
        if (Check("SELECT c FROM s.t WHERE id IN (SELECT id FROM s.t WHERE c > '1')", masked) is null)
            throw new InvalidOperationException("The masked-column-flow analysis did not refuse a predicate on a masked column.");
    }

    private static readonly HashSet<string> DmlStatements = new(StringComparer.Ordinal)
    {
        "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt",
    };

    /// <summary>
    /// Why the statement is refused (null when no masked column can flow anywhere but out bare), and every relation
    /// it names, including in SQL text given to functions, so the gateway can refuse views over masked columns.
    /// </summary>
    public static MaskedColumnFlowResult Analyze(string sql, MaskedColumns masked)
    {
        if (masked.IsEmpty) return new MaskedColumnFlowResult(null, new HashSet<string>());
        var walker = new Walker(masked);
        try
        {
            using var tree = Parse(sql);
            if (tree is null) return new MaskedColumnFlowResult(null, new HashSet<string>()); // the analyzer rejects what the parser rejects
            walker.Statements(tree.RootElement, top: true, parent: null);
            return new MaskedColumnFlowResult(null, walker.Relations)
            {
                OutputOrigins = walker.Outputs.ToDictionary(o => o.Key, o => (IReadOnlyList<string>)[.. o.Value.Order(StringComparer.Ordinal)], StringComparer.Ordinal),
                MaskedStar = walker.MaskedStar,
            };
        }
        catch (Refusal refusal)
        {
            return new MaskedColumnFlowResult(refusal.Message, walker.Relations);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or InsufficientExecutionStackException)
        {
            // Deny when unsure: a tree this pass cannot walk (too deep, an unexpected shape) is not guessed at.
            return new MaskedColumnFlowResult("The statement could not be checked for masked columns (it is nested too deeply or " +
                "has an unexpected shape), and masked columns stay masked wherever they flow: simplify it, and select a masked " +
                "column bare from its table, e.g. SELECT <column> FROM <schema>.<table>, to get its masked value.", walker.Relations);
        }
    }

    /// <summary>Why the statement is refused, or null.</summary>
    public static string? Check(string sql, MaskedColumns masked) => Analyze(sql, masked).Refusal;

    private static JsonDocument? Parse(string sql)
    {
        var result = PgQueryNative.Parse(sql);
        try
        {
            if (result.Error != IntPtr.Zero || result.ParseTree == IntPtr.Zero) return null;
            return JsonDocument.Parse(Marshal.PtrToStringUTF8(result.ParseTree) ?? "{}", new JsonDocumentOptions { MaxDepth = 2048 });
        }
        finally
        {
            PgQueryNative.Free(result);
        }
    }

    private sealed class Refusal(string message) : Exception(message);

    /// <summary>A relation visible in a FROM clause: a table (by name), or derived (subquery, CTE, function), whose columns are safe.</summary>
    private sealed class Item(string name, string? schema, string? table, bool allColumns, IReadOnlyList<Item>? members = null)
    {
        public string Name { get; } = name;
        public string? Schema { get; } = schema;
        public string? Table { get; } = table;

        /// <summary>Renamed columns (t(a, b, c)) hide which one is masked: every column of a masked table counts.</summary>
        public bool AllColumns { get; } = allColumns;

        /// <summary>A join with an alias stands for the relations it joins.</summary>
        public IReadOnlyList<Item>? Members { get; } = members;

        public string? MaskedColumn(string column, MaskedColumns masked)
        {
            if (Members is not null)
                return Members.Select(m => m.MaskedColumn(column, masked)).FirstOrDefault(c => c is not null)
                       ?? (AllColumns ? Members.Select(m => m.AnyMasked(masked)).FirstOrDefault(c => c is not null) : null);
            if (Table is null) return null;
            return masked.Find(Schema, Table, column) ?? (AllColumns ? masked.AnyMaskedColumn(Schema, Table) : null);
        }

        public string? AnyMasked(MaskedColumns masked) =>
            Members is not null ? Members.Select(m => m.AnyMasked(masked)).FirstOrDefault(c => c is not null)
            : Table is null ? null : masked.AnyMaskedColumn(Schema, Table);
    }

    private sealed class Scope(Scope? parent)
    {
        public Scope? Parent { get; } = parent;
        public List<Item> Items { get; } = [];
        public HashSet<string> Ctes { get; init; } = new(StringComparer.Ordinal);

        public bool IsCte(string name) => Ctes.Contains(name) || Parent?.IsCte(name) == true;

        /// <summary>A scope that sees this one's CTEs and outer scopes, but not its FROM items (for non-lateral subqueries).</summary>
        public Scope CtesOnly() => new(Parent) { Ctes = Ctes };
    }

    private enum Reference { Safe, Column, Computed, WholeRow }

    private sealed class Walker(MaskedColumns masked)
    {
        /// <summary>Every relation named (not CTEs), "schema.name" when qualified.</summary>
        public HashSet<string> Relations { get; } = new(StringComparer.Ordinal);

        /// <summary>The outermost SELECT lists' masked outputs: name (alias or column) -> the masked columns it may come from.</summary>
        public Dictionary<string, HashSet<string>> Outputs { get; } = new(StringComparer.Ordinal);

        /// <summary>A masked column a top-level `*` or `t.*` returns (under its own name), or null.</summary>
        public string? MaskedStar { get; private set; }

        private void Output(string name, string pattern)
        {
            if (!Outputs.TryGetValue(name, out var origins)) Outputs[name] = origins = new HashSet<string>(StringComparer.Ordinal);
            origins.Add(pattern);
        }

        private static string Example(string pattern)
        {
            var parts = pattern.Split('.');
            // A configured pattern names its column; one masked by its name, or any of a table's, may not.
            return parts.Length != 3 || parts.Any(p => p.Contains('*') || p.Contains(' '))
                ? "SELECT <column> FROM <schema>.<table>" : $"SELECT {parts[2]} FROM {parts[0]}.{parts[1]}";
        }

        private static Refusal Refuse(string what, string pattern, string where) => new(
            $"{what} {where}, and masked columns stay masked wherever they flow: a masked column ({pattern}) may only be " +
            $"selected bare in the outermost SELECT list, where it comes back masked. Select the column bare, e.g. " +
            $"{Example(pattern)}, to get its masked value; use unmasked columns for conditions, joins, ordering, grouping and functions.");

        public void Statements(JsonElement root, bool top, Scope? parent)
        {
            if (!root.TryGetProperty("stmts", out var statements)) return;
            foreach (var entry in statements.EnumerateArray())
                if (entry.TryGetProperty("stmt", out var statement))
                    foreach (var node in statement.EnumerateObject())
                        Statement(node.Name, node.Value, top, parent);
        }

        private void Statement(string node, JsonElement value, bool top, Scope? parent)
        {
            switch (node)
            {
                case "SelectStmt":
                    Select(value, parent, top && !value.TryGetProperty("intoClause", out _), "a statement that stores its result");
                    return;
                case "InsertStmt" or "UpdateStmt" or "DeleteStmt" or "MergeStmt":
                    Dml(node, value, parent, top);
                    return;
                case "ExplainStmt" when value.TryGetProperty("query", out var explained):
                    // A plan's row estimates come from the columns' statistics (most common values, histograms), so a plan
                    // over a masked column tells about its values; EXPLAIN ANALYZE runs the statement too. Its statement is
                    // judged as a subquery: a masked column may not appear in it at all.
                    foreach (var inner in explained.EnumerateObject())
                        Nested(inner.Name, inner.Value, parent ?? new Scope(null), "EXPLAIN (a plan's row estimates come from the values' statistics)");
                    return;
                case "CopyStmt":
                    Copy(value, parent);
                    return;
                case "DoStmt" or "CreateFunctionStmt" when !value.TryGetProperty("sql_body", out _):
                    // A procedural body is text this analysis cannot follow; it could read any masked column.
                    throw new Refusal("A DO block or function body is code the gateway cannot follow, and it could read masked " +
                        "columns on this connection and return them unmasked (in a notice, an error or a table). Masked columns " +
                        "stay masked wherever they flow: send plain SQL, and select a masked column bare from its table, e.g. " +
                        "SELECT <column> FROM <schema>.<table>, to get its masked value.");
                default:
                    // Every other statement (CREATE VIEW/TABLE AS, PREPARE, DECLARE CURSOR, rules, ALTER TABLE, ...) stores or
                    // hands on what its queries compute, so every query inside it is judged as a subquery; what it does to
                    // a table with masked columns is judged by SchemaStatement.
                    Expression(value, SchemaStatement(node, value, parent), "a statement that stores or re-uses its query's result");
                    return;
            }
        }

        // ---- DDL and other statements ----

        // The relations these statements create: new, so no rule masks their values yet (their columns still count below).
        private static readonly HashSet<(string Node, string Property)> CreatedRelations =
        [
            ("CreateStmt", "relation"), ("CreateForeignTableStmt", "relation"), ("ViewStmt", "view"), ("CreateTableAsStmt", "rel"),
            ("CreateSeqStmt", "sequence"), ("CompositeTypeStmt", "typevar"),
        ];

        // Properties that name columns of the statement's relations (a constraint's, an index's, a statistics object's, ALTER COLUMN's).
        private static readonly HashSet<string> ColumnNameLists = new(StringComparer.Ordinal)
        {
            "keys", "fk_attrs", "pk_attrs", "including", "exclusions", "va_cols",
        };

        private static readonly HashSet<string> ColumnNameNodes = new(StringComparer.Ordinal) { "AlterTableCmd", "IndexElem", "StatsElem" };

        /// <summary>
        /// A statement that is no query or write (ALTER TABLE, CREATE INDEX/STATISTICS/TRIGGER/RULE/POLICY, ANALYZE, ...):
        /// the gateway masks by a column's name as the rules give it, and the policy reads statements by names, so a
        /// statement that renames, moves, re-parents, re-types, constrains, indexes or measures a table a rule declares
        /// masked columns of, or attaches code to it, would make a masked column stop matching or turn it into an
        /// oracle (a CHECK that fails or not, a unique index, a statistics object, a rule or trigger copying rows).
        /// Such statements are refused on a table with declared masked columns; on any other, one that names a
        /// column masked by its name (or uses one in an expression) is. Returns the scope of the relations it acts
        /// on, in which its expressions (CHECK, GENERATED, USING, WHEN, index and policy expressions) are judged.
        /// </summary>
        private Scope SchemaStatement(string node, JsonElement statement, Scope? parent)
        {
            var scope = new Scope(parent);
            if (node == "RenameStmt" && statement.TryGetProperty("renameType", out var renameType) && renameType.GetString() == "OBJECT_SCHEMA"
                && statement.TryGetProperty("subname", out var schemaName) && masked.DeclaredMaskedColumnInSchema(schemaName.GetString()!) is { } inSchema)
                throw Refuse("The statement renames a schema with masked columns", inSchema,
                    "(masking rules name their columns by schema, so a renamed schema would leave them unmasked)");
            SchemaRelations(node, statement, scope);
            if (node is "RuleStmt" or "CreateTrigStmt" && scope.Items.FirstOrDefault(i => i.Table is not null) is { } target)
                foreach (var row in new[] { "new", "old" }) scope.Items.Add(new Item(row, target.Schema, target.Table, false));
            SchemaColumns(node, statement, scope);
            return scope;
        }

        private void SchemaRelations(string node, JsonElement element, Scope scope)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray()) SchemaRelations(node, item, scope);
                return;
            }
            if (element.ValueKind != JsonValueKind.Object) return;
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is "SelectStmt" or "InsertStmt" or "UpdateStmt" or "DeleteStmt" or "MergeStmt") continue; // queries: judged as subqueries
                var value = property.Value;
                if (value.ValueKind != JsonValueKind.Object && value.ValueKind != JsonValueKind.Array) continue;
                // A RangeVar: wrapped ({"RangeVar": {...}}) in node lists, bare in a typed field ("relation": {...}).
                if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("relname", out _))
                {
                    var item = Relation(value, scope);
                    if (CreatedRelations.Contains((node, property.Name)))
                    {
                        // The relation the statement creates is new (a rule masks it only if it names it): its name is not judged.
                        scope.Items.Remove(item);
                        continue;
                    }
                    if (item.Table is not null && masked.DeclaredMaskedColumn(item.Schema, item.Table) is { } pattern)
                        throw Refuse($"The statement changes, constrains, indexes, measures or attaches code to a table with masked columns ({Kind(node)})",
                            pattern, "(it could make a masked column stop matching its rule, or tell about its values through a constraint, an index, statistics or code that copies them)");
                    continue;
                }
                SchemaRelations(value.ValueKind == JsonValueKind.Object && char.IsUpper(property.Name[0]) ? property.Name : node, value, scope);
            }
        }

        private static string Kind(string node) => node.EndsWith("Stmt", StringComparison.Ordinal) ? node[..^4] : node;

        /// <summary>Column names (not expressions) the statement acts on: ALTER COLUMN, RENAME COLUMN, constraint and index keys, statistics.</summary>
        private void SchemaColumns(string node, JsonElement element, Scope scope)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            if (element.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in element.EnumerateArray()) SchemaColumns(node, item, scope);
                return;
            }
            if (element.ValueKind != JsonValueKind.Object) return;
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is "SelectStmt" or "InsertStmt" or "UpdateStmt" or "DeleteStmt" or "MergeStmt") continue;
                var value = property.Value;
                string? column = null;
                if (value.ValueKind == JsonValueKind.String && ((property.Name == "name" && ColumnNameNodes.Contains(node))
                        || (property.Name == "subname" && node == "RenameStmt")))
                    column = value.GetString();
                if (column is not null && MaskedName(column, scope) is { } pattern)
                    throw Refuse($"The statement names a masked column in {Kind(node)}", pattern,
                        "(renaming, re-typing, constraining, indexing or measuring it would make it stop matching its rule, or tell about its values)");
                if (ColumnNameLists.Contains(property.Name) && value.ValueKind == JsonValueKind.Array)
                    foreach (var item in value.EnumerateArray())
                        if (StringValue(item) is { } key && MaskedName(key, scope) is { } keyPattern)
                            throw Refuse($"The statement names a masked column in a constraint or index ({Kind(node)})", keyPattern,
                                "(a constraint or an index on it tells whether a value exists)");
                if (value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                    SchemaColumns(value.ValueKind == JsonValueKind.Object && char.IsUpper(property.Name[0]) ? property.Name : node, value, scope);
            }
        }

        // ---- SELECT ----

        /// <param name="existsStar">An EXISTS subquery returns no value: `*` in its select list reads nothing (but still
        /// counts for DISTINCT and positional ORDER/GROUP BY, which compare the values).</param>
        private void Select(JsonElement select, Scope? parent, bool top, string where, bool existsStar = false)
        {
            var scope = new Scope(parent);
            With(select, scope);

            if (select.TryGetProperty("op", out var op) && op.GetString() is { } setop && setop != "SETOP_NONE")
            {
                // A set operation's output has no origin: its branches are judged as subqueries.
                foreach (var branch in new[] { "larg", "rarg" })
                    if (select.TryGetProperty(branch, out var arm)) Select(arm, scope, false, "a branch of a set operation (UNION, INTERSECT, EXCEPT)");
                foreach (var property in select.EnumerateObject())
                    if (property.Name is "sortClause" or "limitCount" or "limitOffset" or "lockingClause")
                        Expression(property.Value, scope, "ORDER BY or LIMIT");
                return;
            }

            if (select.TryGetProperty("fromClause", out var from)) From(from, scope);

            var maskedOutputs = new Dictionary<int, string>(); // position (0-based) -> pattern
            var maskedNames = new Dictionary<string, string>(StringComparer.Ordinal);
            string? maskedStar = null;
            if (select.TryGetProperty("targetList", out var targets))
            {
                var position = 0;
                foreach (var target in targets.EnumerateArray())
                {
                    if (!target.TryGetProperty("ResTarget", out var resTarget)) { position++; continue; }
                    if (!resTarget.TryGetProperty("val", out var value)) { position++; continue; }
                    if (existsStar && !top && value.TryGetProperty("ColumnRef", out var starRef) && IsStar(starRef, out var starQualifier))
                    {
                        maskedStar ??= StarMasked(starQualifier, scope);
                    }
                    else if (top && value.TryGetProperty("ColumnRef", out var columnRef))
                    {
                        if (IsStar(columnRef, out var qualifier))
                        {
                            maskedStar ??= StarMasked(qualifier, scope);
                        }
                        else
                        {
                            var (kind, pattern) = Classify(columnRef, scope);
                            if (kind is Reference.Computed or Reference.WholeRow)
                                throw Refuse(kind == Reference.WholeRow ? "The statement uses a whole row of a table with masked columns" : "The statement computes on a masked column",
                                    pattern!, "in the SELECT list");
                            if (kind == Reference.Column)
                            {
                                maskedOutputs[position] = pattern!;
                                var name = resTarget.TryGetProperty("name", out var alias) ? alias.GetString()! : LastName(columnRef);
                                if (name is not null) maskedNames[name] = pattern!;
                                if (name is not null) Output(name, pattern!);
                            }
                        }
                    }
                    else
                    {
                        Expression(value, scope, top ? "an expression in the SELECT list" : where);
                    }
                    position++;
                }
            }

            if (top) MaskedStar ??= maskedStar;

            if (select.TryGetProperty("distinctClause", out var distinct))
            {
                var plain = distinct.EnumerateArray().All(d => d.ValueKind == JsonValueKind.Object && !d.EnumerateObject().Any());
                var anyMasked = maskedOutputs.Values.FirstOrDefault() ?? maskedStar;
                if (plain && anyMasked is not null)
                    throw Refuse("The statement compares masked values with DISTINCT", anyMasked, "(it tells which rows hold equal values)");
                foreach (var item in distinct.EnumerateArray()) Ordering(item, maskedOutputs, maskedNames, maskedStar, "DISTINCT ON");
                Expression(distinct, scope, "DISTINCT ON");
            }
            foreach (var (clause, label) in new[] { ("sortClause", "ORDER BY"), ("groupClause", "GROUP BY") })
                if (select.TryGetProperty(clause, out var items))
                    foreach (var item in items.EnumerateArray()) Ordering(item, maskedOutputs, maskedNames, maskedStar, label);

            foreach (var property in select.EnumerateObject())
            {
                var label = property.Name switch
                {
                    "targetList" or "fromClause" or "withClause" or "distinctClause" or "op" or "larg" or "rarg" or "all" => null,
                    "whereClause" => "a WHERE condition",
                    "havingClause" => "a HAVING condition",
                    "sortClause" => "ORDER BY",
                    "groupClause" => "GROUP BY",
                    "windowClause" => "a window definition",
                    "valuesLists" => "VALUES",
                    "intoClause" => "SELECT INTO",
                    _ => "a clause of the statement",
                };
                if (label is not null) Expression(property.Value, scope, top ? label : where);
            }
        }

        /// <summary>ORDER BY / GROUP BY / DISTINCT ON items that name an output column by position or alias.</summary>
        private static void Ordering(JsonElement item, Dictionary<int, string> outputs, Dictionary<string, string> names, string? star, string label)
        {
            if (item.TryGetProperty("SortBy", out var sortBy) && sortBy.TryGetProperty("node", out var node)) item = node;
            if (item.TryGetProperty("GroupingSet", out var set))
            {
                if (set.TryGetProperty("content", out var content))
                    foreach (var inner in content.EnumerateArray()) Ordering(inner, outputs, names, star, label);
                return;
            }
            if (item.TryGetProperty("A_Const", out var constant) && constant.TryGetProperty("ival", out var ival))
            {
                var position = (ival.TryGetProperty("ival", out var number) ? number.GetInt32() : 0) - 1;
                if (star is not null) throw Refuse("The statement orders or groups by position over *", star, $"in {label}");
                if (outputs.TryGetValue(position, out var pattern)) throw Refuse("The statement orders or groups by a masked column", pattern, $"in {label}");
            }
            if (item.TryGetProperty("ColumnRef", out var columnRef) && columnRef.TryGetProperty("fields", out var fields)
                && fields.GetArrayLength() == 1 && LastName(columnRef) is { } name && names.TryGetValue(name, out var aliased))
                throw Refuse("The statement orders or groups by a masked column", aliased, $"in {label}");
        }

        private void With(JsonElement statement, Scope scope)
        {
            if (!statement.TryGetProperty("withClause", out var with) || !with.TryGetProperty("ctes", out var ctes)) return;
            var recursive = with.TryGetProperty("recursive", out var r) && r.GetBoolean();
            var list = ctes.EnumerateArray().Select(c => c.TryGetProperty("CommonTableExpr", out var cte) ? cte : default)
                .Where(c => c.ValueKind == JsonValueKind.Object).ToArray();
            if (recursive)
                foreach (var cte in list) scope.Ctes.Add(CteName(cte));
            foreach (var cte in list)
            {
                if (cte.TryGetProperty("ctequery", out var query))
                    foreach (var inner in query.EnumerateObject())
                        Nested(inner.Name, inner.Value, scope, "a WITH query (CTE)");
                scope.Ctes.Add(CteName(cte)); // a non-recursive CTE is visible to the ones after it
            }
        }

        private static string CteName(JsonElement cte) => cte.TryGetProperty("ctename", out var n) ? n.GetString()! : "";

        /// <summary>A query inside another: every masked reference in it is refused, bare or not.</summary>
        private void Nested(string node, JsonElement value, Scope parent, string where)
        {
            if (node == "SelectStmt") Select(value, parent, false, where);
            else if (DmlStatements.Contains(node)) Dml(node, value, parent, false);
            else Expression(value, parent, where);
        }

        // ---- FROM ----

        private void From(JsonElement fromClause, Scope scope)
        {
            foreach (var item in fromClause.EnumerateArray()) Register(item, scope);
            foreach (var item in fromClause.EnumerateArray()) FromExpressions(item, scope);
        }

        /// <summary>Adds the relations a FROM item makes visible; returns them (for join aliases).</summary>
        private List<Item> Register(JsonElement item, Scope scope)
        {
            var added = new List<Item>();
            foreach (var node in item.EnumerateObject())
            {
                var value = node.Value;
                switch (node.Name)
                {
                    case "RangeVar":
                        added.Add(Relation(value, scope));
                        break;
                    case "JoinExpr":
                        if (value.TryGetProperty("larg", out var left)) added.AddRange(Register(left, scope));
                        if (value.TryGetProperty("rarg", out var right)) added.AddRange(Register(right, scope));
                        if (value.TryGetProperty("alias", out var joinAlias) && joinAlias.TryGetProperty("aliasname", out var joinName))
                        {
                            var join = new Item(joinName.GetString()!, null, null, joinAlias.TryGetProperty("colnames", out _), [.. added]);
                            scope.Items.Add(join);
                            added.Add(join);
                        }
                        break;
                    case "RangeTableSample" when value.TryGetProperty("relation", out var sampled):
                        added.AddRange(Register(sampled, scope));
                        break;
                    case "RangeSubselect" or "RangeFunction" or "RangeTableFunc":
                        var name = value.TryGetProperty("alias", out var alias) && alias.TryGetProperty("aliasname", out var a)
                            ? a.GetString()! : FunctionName(value) ?? "";
                        var derived = new Item(name, null, null, false);
                        scope.Items.Add(derived);
                        added.Add(derived);
                        break;
                }
            }
            return added;
        }

        private Item Relation(JsonElement rangeVar, Scope scope)
        {
            var schema = rangeVar.TryGetProperty("schemaname", out var s) ? s.GetString() : null;
            var table = rangeVar.TryGetProperty("relname", out var r) ? r.GetString()! : "";
            var hasAlias = rangeVar.TryGetProperty("alias", out var alias);
            var name = hasAlias && alias.TryGetProperty("aliasname", out var a) ? a.GetString()! : table;
            var renamed = hasAlias && alias.TryGetProperty("colnames", out _);
            if (StatisticsRelations.Contains(table) && (schema is null || schema == "pg_catalog") && !(schema is null && scope.IsCte(table)))
                throw new Refusal($"{table} holds samples of the values of every column, masked ones included (most common values, " +
                    "histograms), so it cannot be read on a connection with masked columns. Masked columns stay masked wherever they flow: " +
                    "select a masked column bare from its table, e.g. SELECT <column> FROM <schema>.<table>, to get its masked value.");
            var isCte = schema is null && scope.IsCte(table);
            if (!isCte) Relations.Add(schema is null ? table : $"{schema}.{table}");
            var item = isCte ? new Item(name, null, null, false) : new Item(name, schema, table, renamed);
            scope.Items.Add(item);
            return item;
        }

        private void FromExpressions(JsonElement item, Scope scope)
        {
            foreach (var node in item.EnumerateObject())
            {
                var value = node.Value;
                switch (node.Name)
                {
                    case "JoinExpr":
                        if (value.TryGetProperty("isNatural", out var natural) && natural.GetBoolean())
                        {
                            var items = new Scope(null);
                            foreach (var side in new[] { "larg", "rarg" })
                                if (value.TryGetProperty(side, out var arm)) Register(arm, items);
                            if (items.Items.Select(i => i.AnyMasked(masked)).FirstOrDefault(p => p is not null) is { } pattern)
                                throw Refuse("The statement joins a table with masked columns with NATURAL JOIN", pattern, "(it compares every column of the same name)");
                        }
                        if (value.TryGetProperty("usingClause", out var usingClause))
                            foreach (var column in usingClause.EnumerateArray())
                                if (StringValue(column) is { } name && MaskedName(name, scope) is { } pattern)
                                    throw Refuse("The statement joins on a masked column", pattern, "in JOIN ... USING");
                        if (value.TryGetProperty("larg", out var left)) FromExpressions(left, scope);
                        if (value.TryGetProperty("rarg", out var right)) FromExpressions(right, scope);
                        if (value.TryGetProperty("quals", out var quals)) Expression(quals, scope, "a JOIN condition");
                        break;
                    case "RangeSubselect" when value.TryGetProperty("subquery", out var subquery):
                        var lateral = value.TryGetProperty("lateral", out var l) && l.GetBoolean();
                        foreach (var inner in subquery.EnumerateObject())
                            Nested(inner.Name, inner.Value, lateral ? scope : scope.CtesOnly(), "a subquery in FROM");
                        break;
                    case "RangeFunction" or "RangeTableFunc":
                        Expression(value, scope, "a function in FROM");
                        break;
                    case "RangeTableSample":
                        foreach (var property in value.EnumerateObject())
                            if (property.Name != "relation") Expression(property.Value, scope, "TABLESAMPLE");
                        break;
                }
            }
        }

        // ---- INSERT, UPDATE, DELETE, MERGE, COPY ----

        private void Dml(string node, JsonElement statement, Scope? parent, bool top)
        {
            var scope = new Scope(parent);
            With(statement, scope);
            Item? target = null;
            if (statement.TryGetProperty("relation", out var relation)) target = Relation(relation, scope);
            var what = node switch { "InsertStmt" => "INSERT", "UpdateStmt" => "UPDATE", "DeleteStmt" => "DELETE", _ => "MERGE" };

            switch (node)
            {
                case "InsertStmt":
                    var columns = statement.TryGetProperty("cols", out var cols) ? cols.EnumerateArray().ToArray() : [];
                    if (statement.TryGetProperty("selectStmt", out var source))
                    {
                        if (columns.Length == 0 && target?.AnyMasked(masked) is { } all)
                            throw Refuse("The statement writes every column of a table with masked columns", all, "(INSERT without a column list)");
                        foreach (var inner in source.EnumerateObject())
                            Nested(inner.Name, inner.Value, scope.CtesOnly(), "the query or VALUES of an INSERT");
                    }
                    foreach (var column in columns) WrittenColumn(column, target, what);
                    if (statement.TryGetProperty("onConflictClause", out var conflict))
                    {
                        if (target is not null) scope.Items.Add(new Item("excluded", target.Schema, target.Table, target.AllColumns));
                        if (conflict.TryGetProperty("targetList", out var sets))
                            foreach (var set in sets.EnumerateArray()) WrittenColumn(set, target, what);
                        Expression(conflict, scope, "ON CONFLICT");
                    }
                    break;
                case "UpdateStmt":
                    if (statement.TryGetProperty("fromClause", out var from)) From(from, scope);
                    if (statement.TryGetProperty("targetList", out var assignments))
                        foreach (var set in assignments.EnumerateArray()) WrittenColumn(set, target, what);
                    break;
                case "DeleteStmt":
                    if (statement.TryGetProperty("usingClause", out var usingClause)) From(usingClause, scope);
                    break;
                case "MergeStmt":
                    if (statement.TryGetProperty("sourceRelation", out var mergeSource)) From(JsonArray(mergeSource), scope);
                    if (statement.TryGetProperty("mergeWhenClauses", out var whens))
                        foreach (var when in whens.EnumerateArray())
                        {
                            var clause = when.TryGetProperty("MergeWhenClause", out var w) ? w : when;
                            var insertColumns = clause.TryGetProperty("targetList", out var list) ? list.EnumerateArray().ToArray() : [];
                            var isInsert = clause.TryGetProperty("commandType", out var command) && command.GetString() == "CMD_INSERT";
                            if (isInsert && insertColumns.Length == 0 && clause.TryGetProperty("values", out _) && target?.AnyMasked(masked) is { } all)
                                throw Refuse("The statement writes every column of a table with masked columns", all, "(MERGE ... INSERT without a column list)");
                            foreach (var column in insertColumns) WrittenColumn(column, target, what);
                        }
                    break;
            }

            foreach (var property in statement.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "relation" or "withClause" or "cols" or "selectStmt" or "onConflictClause" or "fromClause" or "usingClause"
                        or "sourceRelation":
                        continue;
                    case "returningList" when top:
                        Returning(property.Value, scope);
                        continue;
                    default:
                        Expression(property.Value, scope, property.Name switch
                        {
                            "whereClause" => $"the WHERE condition of an {what}",
                            "joinCondition" => "the join condition of a MERGE",
                            "returningList" => "RETURNING in a nested statement",
                            _ => $"the values of an {what}",
                        });
                        continue;
                }
            }
        }

        /// <summary>Writing a masked column is refused too: a unique index or a constraint turns the write into an oracle.</summary>
        private void WrittenColumn(JsonElement target, Item? relation, string what)
        {
            if (relation is null || !target.TryGetProperty("ResTarget", out var resTarget) || !resTarget.TryGetProperty("name", out var name)) return;
            if (relation.MaskedColumn(name.GetString()!, masked) is { } pattern)
                throw Refuse($"The statement writes a masked column with {what}", pattern,
                    "(a unique index or a constraint would tell whether a value exists)");
        }

        /// <summary>A top-level RETURNING list: like the outermost select list, bare masked columns keep their origin.</summary>
        private void Returning(JsonElement list, Scope scope)
        {
            foreach (var target in list.EnumerateArray())
            {
                if (!target.TryGetProperty("ResTarget", out var resTarget) || !resTarget.TryGetProperty("val", out var value)) continue;
                if (value.TryGetProperty("ColumnRef", out var columnRef))
                {
                    if (IsStar(columnRef, out _)) continue;
                    var (kind, pattern) = Classify(columnRef, scope);
                    if (kind is Reference.Computed or Reference.WholeRow)
                        throw Refuse("The statement computes on a masked column", pattern!, "in RETURNING");
                    continue;
                }
                Expression(value, scope, "an expression in RETURNING");
            }
        }

        private void Copy(JsonElement copy, Scope? parent)
        {
            if (copy.TryGetProperty("relation", out var relation))
            {
                var scope = new Scope(parent);
                var table = Relation(relation, scope);
                var columns = copy.TryGetProperty("attlist", out var list) ? list.EnumerateArray().Select(StringValue).OfType<string>().ToArray() : [];
                var pattern = columns.Length == 0 ? table.AnyMasked(masked) : columns.Select(c => table.MaskedColumn(c, masked)).FirstOrDefault(p => p is not null);
                if (pattern is not null)
                    throw Refuse("COPY moves the raw values of a table with masked columns", pattern, "(COPY bypasses result masking)");
            }
            if (copy.TryGetProperty("query", out var query))
                foreach (var inner in query.EnumerateObject()) Nested(inner.Name, inner.Value, parent ?? new Scope(null), "the query of a COPY");
            if (copy.TryGetProperty("whereClause", out var where) && copy.TryGetProperty("relation", out var copied))
            {
                var scope = new Scope(parent);
                Relation(copied, scope);
                Expression(where, scope, "the WHERE condition of a COPY");
            }
        }

        // ---- expressions ----

        /// <summary>Any masked reference inside an expression is refused: it is computed on, compared or hidden in a subquery.</summary>
        private void Expression(JsonElement element, Scope scope, string where)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            switch (element.ValueKind)
            {
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray()) Expression(item, scope, where);
                    return;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        var value = property.Value;
                        switch (property.Name)
                        {
                            case "ColumnRef":
                                StrictReference(value, scope, where);
                                break;
                            case "SelectStmt" or "InsertStmt" or "UpdateStmt" or "DeleteStmt" or "MergeStmt":
                                Nested(property.Name, value, scope, where.StartsWith("a subquery", StringComparison.Ordinal) ? where : $"a subquery (in {where})");
                                break;
                            case "DoStmt" or "CreateFunctionStmt" or "CopyStmt":
                                Statement(property.Name, value, false, scope);
                                break;
                            case "SubLink" when value.TryGetProperty("subLinkType", out var type) && type.GetString() == "EXISTS_SUBLINK"
                                                && value.TryGetProperty("subselect", out var subselect) && subselect.TryGetProperty("SelectStmt", out var exists)
                                                && !(exists.TryGetProperty("op", out var op) && op.GetString() != "SETOP_NONE"):
                                Select(exists, scope, false, where.StartsWith("a subquery", StringComparison.Ordinal) ? where : $"a subquery (in {where})", existsStar: true);
                                break;
                            case "IndexElem" when value.TryGetProperty("name", out var column) && MaskedName(column.GetString()!, scope) is { } pattern:
                                throw Refuse("The statement uses a masked column", pattern, $"in {where}");
                            case "FuncCall":
                                FunctionText(value, scope);
                                Expression(value, scope, where.Contains("function", StringComparison.Ordinal) ? where : $"a function argument (in {where})");
                                break;
                            default:
                                if (value.ValueKind is JsonValueKind.Object or JsonValueKind.Array) Expression(value, scope, where);
                                break;
                        }
                    }
                    return;
            }
        }

        /// <summary>
        /// Functions that run SQL text (query_to_xml, ts_stat, ...) or read a table by name (table_to_xml): a constant
        /// that parses as SQL is judged as a subquery, and a constant naming a table with masked columns is refused.
        /// Text built at run time is the function analysis's to refuse.
        /// </summary>
        private void FunctionText(JsonElement call, Scope scope)
        {
            var function = call.TryGetProperty("funcname", out var names) ? names.EnumerateArray().Select(StringValue).LastOrDefault(n => n is not null) : null;
            // A whole schema or database as XML: every table in it, whichever columns they have.
            if (function is not null && (function.StartsWith("schema_to_", StringComparison.OrdinalIgnoreCase)
                                         || function.StartsWith("database_to_", StringComparison.OrdinalIgnoreCase)))
                throw Refuse($"{function} reads every table of a schema or database", MaskedColumns.AnyNamedColumn, "with their columns");
            if (!call.TryGetProperty("args", out var args)) return;
            foreach (var arg in args.EnumerateArray())
            {
                var text = ConstantText(arg);
                if (text is null) continue;
                using (var tree = Parse(text))
                    if (tree is not null && tree.RootElement.TryGetProperty("stmts", out _))
                        Statements(tree.RootElement, top: false, parent: scope.CtesOnly());
                // table_to_xml('demo.api_keys'): the text names a table (query_to_xml's is a statement, judged above).
                if (function?.StartsWith("table_to_", StringComparison.OrdinalIgnoreCase) == true)
                {
                    var parts = text.Split('.').Select(p => p.Trim().Trim('"')).ToArray();
                    Relations.Add(string.Join('.', parts));
                    var pattern = parts.Length switch
                    {
                        1 => masked.AnyMaskedColumn(null, parts[0]),
                        2 => masked.AnyMaskedColumn(parts[0], parts[1]),
                        _ => null,
                    };
                    if (pattern is not null) throw Refuse($"{function} reads a table with masked columns", pattern, "by name");
                }
            }
        }

        private static string? ConstantText(JsonElement arg)
        {
            if (arg.TryGetProperty("TypeCast", out var cast) && cast.TryGetProperty("arg", out var inner)) arg = inner;
            return arg.TryGetProperty("A_Const", out var constant) && constant.TryGetProperty("sval", out var sval) && sval.TryGetProperty("sval", out var text)
                ? text.GetString()
                : null;
        }

        private void StrictReference(JsonElement columnRef, Scope scope, string where)
        {
            if (IsStar(columnRef, out var qualifier))
            {
                if (StarMasked(qualifier, scope) is { } pattern)
                    throw Refuse("The statement expands * over a table with masked columns", pattern, $"in {where}");
                return;
            }
            var (kind, found) = Classify(columnRef, scope);
            if (kind == Reference.WholeRow) throw Refuse("The statement uses a whole row of a table with masked columns", found!, $"in {where}");
            if (kind != Reference.Safe) throw Refuse("The statement uses a masked column", found!, $"in {where}");
        }

        /// <summary>What a column reference can be, the worst reading first; the pattern of the masked column it may touch.</summary>
        private (Reference Kind, string? Pattern) Classify(JsonElement columnRef, Scope scope)
        {
            var fields = Fields(columnRef);
            if (fields.Length == 0 || fields.Any(f => f is null)) return (Reference.Safe, null);
            var names = fields.Select(f => f!).ToArray();

            // The last name (or the last two) naming a relation: a whole row ("c", "demo.customers").
            var rows = FindItems(names[^1], scope, names.Length >= 2 ? names[^2] : null);
            if (rows.Select(i => i.AnyMasked(masked)).FirstOrDefault(p => p is not null) is { } whole)
            {
                // A single name is a column before it is a row; only when the name is no masked column is it a row.
                if (names.Length > 1 || MaskedName(names[0], scope) is null) return (Reference.WholeRow, whole);
            }

            if (names.Length == 1)
                return MaskedName(names[0], scope) is { } pattern ? (Reference.Column, pattern) : (Reference.Safe, null);

            // The first name as a column, the rest field selections: computed.
            if (MaskedName(names[0], scope) is { } field) return (Reference.Computed, field);
            // relation.column(.field...): a relation named by the first name, its column the second.
            if (names.Length >= 3 && FindItems(names[0], scope, null).Select(i => i.MaskedColumn(names[1], masked)).FirstOrDefault(p => p is not null) is { } nested)
                return (Reference.Computed, nested);
            // [schema.]relation.column: bare.
            var qualifier = FindItems(names[^2], scope, names.Length >= 3 ? names[^3] : null);
            if (qualifier.Select(i => i.MaskedColumn(names[^1], masked)).FirstOrDefault(p => p is not null) is { } column)
                return (Reference.Column, column);
            return (Reference.Safe, null);
        }

        /// <summary>Whether `*` (qualifier null) or `q.*` expands over a masked column; the pattern if so.</summary>
        private string? StarMasked(string[]? qualifier, Scope scope)
        {
            if (qualifier is null || qualifier.Length == 0)
                return scope.Items.Select(i => i.AnyMasked(masked)).FirstOrDefault(p => p is not null);
            var items = FindItems(qualifier[^1], scope, qualifier.Length >= 2 ? qualifier[^2] : null);
            return items.Select(i => i.AnyMasked(masked)).FirstOrDefault(p => p is not null)
                   ?? MaskedName(qualifier[0], scope); // a composite column's fields
        }

        /// <summary>Relations of the innermost scope that has one of this name (as PostgreSQL resolves a qualifier).</summary>
        private static List<Item> FindItems(string name, Scope scope, string? schema)
        {
            for (var current = scope; current is not null; current = current.Parent)
            {
                var found = current.Items.Where(i => string.Equals(i.Name, name, StringComparison.OrdinalIgnoreCase)
                    || (schema is not null && i.Table is not null && string.Equals(i.Table, name, StringComparison.OrdinalIgnoreCase))).ToList();
                if (found.Count > 0) return found;
            }
            return [];
        }

        /// <summary>The masked column an unqualified name may be: any relation in scope, outer scopes included, with a masked column of that name.</summary>
        private string? MaskedName(string name, Scope scope)
        {
            for (var current = scope; current is not null; current = current.Parent)
                foreach (var item in current.Items)
                    if (item.MaskedColumn(name, masked) is { } pattern) return pattern;
            return null;
        }

        private static bool IsStar(JsonElement columnRef, out string[]? qualifier)
        {
            qualifier = null;
            if (!columnRef.TryGetProperty("fields", out var fields)) return false;
            var items = fields.EnumerateArray().ToArray();
            if (items.Length == 0 || !items[^1].TryGetProperty("A_Star", out _)) return false;
            qualifier = [.. items[..^1].Select(StringValue).OfType<string>()];
            return true;
        }

        private static string?[] Fields(JsonElement columnRef) =>
            columnRef.TryGetProperty("fields", out var fields) ? [.. fields.EnumerateArray().Select(StringValue)] : [];

        private static string? LastName(JsonElement columnRef) => Fields(columnRef).LastOrDefault();

        private static string? FunctionName(JsonElement rangeFunction)
        {
            if (!rangeFunction.TryGetProperty("functions", out var functions)) return null;
            foreach (var list in functions.EnumerateArray())
                if (list.TryGetProperty("List", out var l) && l.TryGetProperty("items", out var items))
                    foreach (var item in items.EnumerateArray())
                        if (item.TryGetProperty("FuncCall", out var call) && call.TryGetProperty("funcname", out var names))
                            return names.EnumerateArray().Select(StringValue).LastOrDefault(n => n is not null);
            return null;
        }

        private static JsonElement JsonArray(JsonElement item) => JsonDocument.Parse($"[{item.GetRawText()}]").RootElement;
    }

    private static string? StringValue(JsonElement node) =>
        node.ValueKind == JsonValueKind.Object && node.TryGetProperty("String", out var s) && s.TryGetProperty("sval", out var v)
            ? v.GetString()
            : null;
}

/// <summary>The masked-column-flow verdict of a SQL string, and the relations it names.</summary>
public sealed record MaskedColumnFlowResult(string? Refusal, IReadOnlySet<string> Relations)
{
    /// <summary>
    /// Where the outermost SELECT's masked outputs come from, by output name (alias or column name): the masked
    /// column patterns (as configured) each may hold. Several for one name: the name is ambiguous (two outputs share
    /// it), and whoever masks by it must apply the strictest. Outputs that are not masked columns are not listed.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> OutputOrigins { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>A masked column a top-level `*` returns under a name not listed in <see cref="OutputOrigins"/>, or null.</summary>
    public string? MaskedStar { get; init; }
}
