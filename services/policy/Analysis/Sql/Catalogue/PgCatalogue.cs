using System.Reflection;

namespace Portcullis.Policy.Analysis.Sql.Catalogue;

/// <summary>Which argument of a function is SQL text, a relation name or a setting name, by position and by name.</summary>
public sealed record SqlTextArgument(string Role, int Position, string? Name)
{
    public const string Query = "query";
    public const string Table = "table";
    public const string Setting = "setting";
    public const string SettingRead = "setting_read";

    public static SqlTextArgument? Parse(string text)
    {
        if (text == "-") return null;
        var parts = text.Split(':');
        return new SqlTextArgument(parts[0], int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture),
            parts.Length > 2 && parts[2] != "-" ? parts[2] : null);
    }

    public override string ToString() => $"{Role}:{Position}:{Name ?? "-"}";
}

/// <summary>One built-in function overload: how many arguments it takes and what it can do.</summary>
public sealed record PgFunction(string Schema, string Name, int MinArguments, int? MaxArguments, IReadOnlySet<string> Capabilities,
    SqlTextArgument? SqlArgument)
{
    public bool Accepts(int arguments) => arguments >= MinArguments && (MaxArguments is null || arguments <= MaxArguments);
}

/// <summary>
/// PostgreSQL's built-in functions, operators and catalog relations with their capabilities, as generated from a
/// fresh server's pg_proc, pg_operator and pg_class by <see cref="PgCatalogueGenerator"/> (the rules are at the top of
/// each file). Built-ins are the objects initdb creates (oid below 16384) in pg_catalog and information_schema;
/// anything else a statement calls is user code or an extension, and so unvetted.
/// </summary>
public sealed class PgCatalogue
{
    public const string FunctionsFile = "pg-functions.tsv";
    public const string OperatorsFile = "pg-operators.tsv";
    public const string RelationsFile = "pg-relations.tsv";

    private readonly Dictionary<(string Schema, string Name), List<PgFunction>> _functions = [];
    private readonly Dictionary<(string Schema, string Name), HashSet<string>> _operators = [];
    private readonly Dictionary<(string Schema, string Name), HashSet<string>> _relations = [];

    /// <summary>Functions of extensions the catalogue does not hold, whose capability is known: kinds in addition to unvetted.</summary>
    private static readonly (string Prefix, string Kind)[] KnownExtensionFunctions =
    [
        ("dblink", SqlCapabilities.RemoteAccess), ("postgres_fdw_", SqlCapabilities.RemoteAccess),
        ("pg_file_", SqlCapabilities.FileAccess), ("pg_logdir_ls", SqlCapabilities.FileAccess),
    ];

    /// <summary>Relations of extensions that show other sessions' statements; sensitive wherever they are installed.</summary>
    private static readonly HashSet<string> SensitiveExtensionRelations = new(StringComparer.Ordinal)
    {
        "pg_stat_statements", "pg_stat_statements_info", "pg_stat_monitor",
    };

    public static PgCatalogue Default { get; } = FromResources();

    public int FunctionCount => _functions.Values.Sum(list => list.Count);

    public static PgCatalogue FromResources()
    {
        var assembly = typeof(PgCatalogue).Assembly;
        return Parse(Read(assembly, FunctionsFile), Read(assembly, OperatorsFile), Read(assembly, RelationsFile));
    }

    private static string Read(Assembly assembly, string file)
    {
        var name = assembly.GetManifestResourceNames().Single(n => n.EndsWith("." + file, StringComparison.Ordinal));
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public static PgCatalogue Parse(string functions, string operators, string relations)
    {
        var catalogue = new PgCatalogue();
        foreach (var row in Rows(functions))
        {
            // schema name arguments min_args max_args kind volatility language strict returns_set public_execute symbol capability sql_argument
            var function = new PgFunction(row[0], row[1], int.Parse(row[3], System.Globalization.CultureInfo.InvariantCulture),
                row[4] == "*" ? null : int.Parse(row[4], System.Globalization.CultureInfo.InvariantCulture), Kinds(row[12]),
                SqlTextArgument.Parse(row[13]));
            catalogue.AddFunction(function);
        }
        foreach (var row in Rows(operators))
            Add(catalogue._operators, (row[0], row[1]), Kinds(row[5])); // schema name left right function capability
        foreach (var row in Rows(relations))
            Add(catalogue._relations, (row[0], row[1]), Kinds(row[4])); // schema name relkind public_select capability
        return catalogue;
    }

    internal void AddFunction(PgFunction function)
    {
        if (!_functions.TryGetValue((function.Schema, function.Name), out var list))
            _functions[(function.Schema, function.Name)] = list = [];
        list.Add(function);
    }

    private static void Add(Dictionary<(string, string), HashSet<string>> map, (string, string) key, IReadOnlySet<string> kinds)
    {
        if (!map.TryGetValue(key, out var set)) map[key] = set = new HashSet<string>(StringComparer.Ordinal);
        set.UnionWith(kinds);
    }

    private static IReadOnlySet<string> Kinds(string text) =>
        text == "-" ? new HashSet<string>() : new HashSet<string>(text.Split(','), StringComparer.Ordinal);

    private static IEnumerable<string[]> Rows(string text)
    {
        var header = true;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (header) { header = false; continue; } // the column names
            yield return line.Split('\t');
        }
    }

    /// <summary>
    /// The overloads a call could reach. Unqualified names resolve in pg_catalog (always searched first, unless the
    /// SQL itself puts it later in search_path, which the caller reports as unvetted); information_schema only when
    /// written. Overloads whose argument count does not fit cannot be the one called.
    /// </summary>
    public IReadOnlyList<PgFunction> FunctionCandidates(string? schema, string name, int arguments)
    {
        if (schema is not (null or "pg_catalog" or "information_schema")) return [];
        return _functions.TryGetValue((schema ?? "pg_catalog", name), out var list) ? [.. list.Where(f => f.Accepts(arguments))] : [];
    }

    /// <summary>The kinds of an extension function known by name (never a built-in; the call is unvetted as well).</summary>
    public static IEnumerable<string> KnownExtensionKinds(string name) =>
        KnownExtensionFunctions.Where(known => name.StartsWith(known.Prefix, StringComparison.Ordinal)).Select(known => known.Kind);

    /// <summary>The kinds of every built-in operator of that name (operand types are not known before planning), or null when there is none.</summary>
    public IReadOnlySet<string>? Operator(string? schema, string name) =>
        schema is not (null or "pg_catalog") ? null : _operators.GetValueOrDefault(("pg_catalog", name));

    /// <summary>The kinds of reading a relation; unqualified names count as pg_catalog's, where PostgreSQL looks first.</summary>
    public IEnumerable<string> RelationKinds(string? schema, string name)
    {
        if (SensitiveExtensionRelations.Contains(name)) return [SqlCapabilities.SensitiveCatalog];
        if (schema is not (null or "pg_catalog" or "information_schema")) return [];
        return _relations.GetValueOrDefault((schema ?? "pg_catalog", name)) ?? (IEnumerable<string>)[];
    }
}
