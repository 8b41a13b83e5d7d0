using System.Security.Cryptography;
using System.Text;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Policy.Rules;

/// <summary>The rules of portcullis.yaml, checked and compiled once. Invalid rules stop the service at start-up.</summary>
public sealed class CompiledPolicy
{
    public required string Version { get; init; }
    public required IReadOnlyList<CompiledRule> Rules { get; init; }
    public required Decision DefaultEffect { get; init; }
    public required IReadOnlyDictionary<string, Decision> ConnectionDefaults { get; init; }
    public required IReadOnlyDictionary<string, Obligations> ConnectionObligations { get; init; }

    /// <summary>The rules that carry a budget; when there are none, deciding a request reads no budget.</summary>
    public IReadOnlyList<CompiledRule> BudgetRules => _budgetRules ??= [.. Rules.Where(r => r.Budget is not null)];
    private IReadOnlyList<CompiledRule>? _budgetRules;

    /// <summary>Per connection, the columns its masking rules mask (from the masking section): they may not flow into computations.</summary>
    public IReadOnlyDictionary<string, MaskedColumns> MaskedColumns { get; init; } = new Dictionary<string, MaskedColumns>();

    /// <summary>The statement and capability kinds a rule may name; anything else is a typo.</summary>
    public static readonly IReadOnlySet<string> SqlKinds = new HashSet<string>(StringComparer.Ordinal)
    {
        "select", "insert", "update", "delete", "merge", "copy", "copy_to", "copy_from", "copy_to_program",
        "copy_from_program", "program_execution", "file_access", "remote_access", "admin_function", "admin", "ddl", "drop",
        "truncate", "privilege", "transaction", "set", "show", "explain", "do", "call", "prepare", "execute", "lock",
        "maintenance", "notify", "load",
        // Capabilities from the function catalogue (Analysis/Sql/Catalogue/SqlCapabilities.cs).
        "sql_execution", "dynamic_sql", "large_object", "large_object_write", "server_state", "sensitive_catalog",
        "unvetted_function", "unsafe_setting", "delay",
    };

    /// <summary>The file's policy: its policy section, over its connections and the columns its masking rules mask.</summary>
    public static CompiledPolicy From(PortcullisConfig config, string? version = null) =>
        From(config.Policy.Read<PolicyConfig>(), config.Connections, MaskedColumnRules.From(config), version);

    public static CompiledPolicy From(PolicyConfig policy, IReadOnlyDictionary<string, ConnectionConfig> connections,
        MaskedColumnRules masked, string? version = null)
    {
        var errors = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var rules = new List<CompiledRule>();
        var hosts = connections.ToDictionary(c => c.Key, c => c.Value.TargetHost(), StringComparer.Ordinal);
        foreach (var (rule, index) in policy.Rules.Select((rule, index) => (rule, index)))
        {
            var where = $"policy.rules[{index}]" + (rule.Id.Length > 0 ? $" ('{rule.Id}')" : "");
            if (rule.Id.Length == 0) errors.Add($"{where}: every rule needs an id");
            else if (!ids.Add(rule.Id)) errors.Add($"{where}: the id is used twice");
            if (!TryParseEffect(rule.Effect, out var effect))
                errors.Add($"{where}: effect '{rule.Effect}' is not one of allow, deny, require_approval");
            if (effect == Decision.RequireApproval && rule.Approvers.Count == 0)
                errors.Add($"{where}: require_approval needs approvers (groups)");
            foreach (var connection in rule.Match.Connections.Where(c => !connections.ContainsKey(c)))
                errors.Add($"{where}: connection '{connection}' is not defined under connections");
            foreach (var path in rule.Match.Paths.Where(p => !p.StartsWith('/')))
                errors.Add($"{where}: path '{path}' must start with '/'");
            foreach (var path in rule.Match.Exec?.Paths.Where(p => !(p.StartsWith('/') || p.StartsWith('~') || p.StartsWith("**", StringComparison.Ordinal))) ?? [])
                errors.Add($"{where}: exec path '{path}' must start with '/', '~' or '**'");
            foreach (var kind in rule.Match.Sql?.Kinds.Where(k => !SqlKinds.Contains(k)) ?? [])
                errors.Add($"{where}: sql kind '{kind}' is not one of {string.Join(", ", SqlKinds)}");
            if (rule.Match.Mcp is { } mcp) errors.AddRange(McpConditions.Problems(mcp, where));
            if (rule.Match.Mcp is { SqlArgument: not null } && rule.Match.Sql is null)
                errors.Add($"{where}: mcp.sql_argument needs sql: conditions to judge it by");
            if (rule.Match.Mcp is { CommandArgument: not null } && rule.Match.Exec is null)
                errors.Add($"{where}: mcp.command_argument needs exec: conditions to judge it by");
            var obligations = ParseObligations(rule.Obligations, where, errors);
            var budget = rule.Budget is null ? null : Budgets.Budget.From(rule.Id, rule.Budget, effect, where, errors);
            if (budget is not null && rule.Budget!.Rows is not null && RowsNotCounted(rule, connections) is { } why)
                errors.Add($"{where}: budget.rows counts the rows of SQL the gateway runs on postgres connections (/sql, MCP " +
                           $"sql_query, the wire listener), but {why}, whose rows are never counted: limit requests, bytes or " +
                           "masked values for those, or narrow the rule to postgres connections");
            rules.Add(new CompiledRule(rule, effect, index, obligations, hosts, budget));
        }

        if (!TryParseEffect(policy.DefaultEffect, out var defaultEffect) || defaultEffect == Decision.RequireApproval)
            errors.Add($"policy.default_effect '{policy.DefaultEffect}' must be allow or deny");
        var connectionDefaults = new Dictionary<string, Decision>(StringComparer.Ordinal);
        var connectionObligations = new Dictionary<string, Obligations>(StringComparer.Ordinal);
        foreach (var (name, connection) in connections)
        {
            errors.AddRange(McpConnection.Problems(name, connection));
            connectionObligations[name] = ParseObligations(connection.Obligations, $"connections.{name}", errors) ?? Obligations.None;
            if (connection.DefaultEffect is null) connectionDefaults[name] = defaultEffect;
            else if (TryParseEffect(connection.DefaultEffect, out var effect) && effect != Decision.RequireApproval)
                connectionDefaults[name] = effect;
            else errors.Add($"connections.{name}.default_effect '{connection.DefaultEffect}' must be allow or deny");
        }

        if (errors.Count > 0)
            throw new InvalidOperationException("The policy in portcullis.yaml is not valid:\n  " + string.Join("\n  ", errors));

        return new CompiledPolicy
        {
            Version = version ?? VersionOf(policy, connections),
            Rules = rules,
            DefaultEffect = defaultEffect,
            ConnectionDefaults = connectionDefaults,
            ConnectionObligations = connectionObligations,
            MaskedColumns = connections.Keys.ToDictionary(c => c, c => Defaults.Configuration.MaskedColumns.For(masked, c).WithNamedColumns(), StringComparer.Ordinal),
        };
    }

    /// <summary>
    /// Why a rule with a rows budget could match actions whose rows are not counted (an MCP server's tools, HTTP, commands),
    /// so the budget would never be spent by them; null when it matches only SQL the gateway runs.
    /// </summary>
    private static string? RowsNotCounted(PolicyRuleConfig rule, IReadOnlyDictionary<string, ConnectionConfig> connections)
    {
        if (rule.Match.Mcp is not null) return "its mcp: match judges the tools of an MCP server";
        if (rule.Match.Connections.FirstOrDefault(c => connections.TryGetValue(c, out var connection) && connection.Kind != "postgres") is { } other)
            return $"it matches connection '{other}' ({connections[other].Kind})";
        if (rule.Match.Connections.Count == 0 && rule.Match.Sql is null)
            return "it names no connections and no sql: conditions, so it matches every kind of action";
        return null;
    }

    private static Obligations? ParseObligations(ObligationsConfig? config, string where, List<string> errors)
    {
        if (config is null) return null;
        int? timeout = null;
        if (config.StatementTimeout is { } text)
        {
            if (!DurationText.TryParse(text, out var duration))
                errors.Add($"{where}.obligations.statement_timeout '{text}' is not a duration such as 5s, 500ms or 2m");
            else if (duration.TotalMilliseconds > int.MaxValue) // PostgreSQL's statement_timeout is an int of milliseconds
                errors.Add($"{where}.obligations.statement_timeout '{text}' is longer than PostgreSQL allows (about 24 days)");
            else timeout = (int)duration.TotalMilliseconds;
        }
        if (config.MaxRows is <= 0) errors.Add($"{where}.obligations.max_rows must be positive");
        if (config.MaxOutputBytes is <= 0) errors.Add($"{where}.obligations.max_output_bytes must be positive");
        return new Obligations(config.MaxRows, config.ReadOnly ?? false, timeout, config.MaxOutputBytes);
    }

    /// <summary>The strictest of two sets of obligations: the smaller limits, read-only if either says so.</summary>
    public static Obligations Strictest(Obligations a, Obligations b) => new(
        Min(a.MaxRows, b.MaxRows), a.ReadOnly || b.ReadOnly, Min(a.StatementTimeoutMs, b.StatementTimeoutMs),
        Min(a.MaxOutputBytes, b.MaxOutputBytes));

    private static T? Min<T>(T? a, T? b) where T : struct, IComparable<T> =>
        a is null ? b : b is null ? a : a.Value.CompareTo(b.Value) <= 0 ? a : b;

    private static bool TryParseEffect(string value, out Decision effect)
    {
        (var ok, effect) = value switch
        {
            "allow" => (true, Decision.Allow),
            "deny" => (true, Decision.Deny),
            "require_approval" => (true, Decision.RequireApproval),
            _ => (false, Decision.Deny),
        };
        return ok;
    }

    // Until versions are stored as events, the version is the content hash of the rules, so two services
    // (or two runs) with the same rules name the same version and any change names a new one.
    private static string VersionOf(PolicyConfig policy, IReadOnlyDictionary<string, ConnectionConfig> connections)
    {
        var text = new StringBuilder(policy.DefaultEffect);
        foreach (var (name, connection) in connections.OrderBy(c => c.Key, StringComparer.Ordinal))
            text.Append('\n').Append(name).Append('=').Append(connection.DefaultEffect);
        foreach (var (_, connection) in connections.OrderBy(c => c.Key, StringComparer.Ordinal))
            text.Append('\n').Append(System.Text.Json.JsonSerializer.Serialize(connection.Obligations));
        foreach (var rule in policy.Rules)
            text.Append('\n').Append(System.Text.Json.JsonSerializer.Serialize(rule));
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..12];
    }
}
