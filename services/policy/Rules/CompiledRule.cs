using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;

namespace Portcullis.Policy.Rules;

/// <summary>One rule of the policy, compiled: every condition listed must hold; an empty list matches anything.</summary>
public sealed class CompiledRule(PolicyRuleConfig rule, Decision effect, int order, Obligations? obligations,
    IReadOnlyDictionary<string, string?> connectionHosts, Budgets.Budget? budget = null)
{
    private readonly NameGlob[] _hosts = [.. rule.Match.Hosts.Select(h => new NameGlob(h, ignoreCase: true))];
    private readonly HashSet<string> _connections = new(rule.Match.Connections, StringComparer.Ordinal);
    private readonly HashSet<string> _protocols = new(rule.Match.Protocols, StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _groups = new(rule.Match.Groups, StringComparer.Ordinal);
    private readonly HashSet<string> _subjects = new(rule.Match.Subjects, StringComparer.Ordinal);
    private readonly HashSet<string> _methods = new(rule.Match.Methods, StringComparer.OrdinalIgnoreCase);
    // A deny or approval rule covers the paths it names with a format suffix and everything beneath them; allow covers what it names.
    private readonly PathGlob[] _paths = [.. rule.Match.Paths.Select(p => new PathGlob(p, andBeneath: effect != Decision.Allow))];
    private readonly QueryCondition[] _query = [.. rule.Match.Query.Select(QueryCondition.Parse)];
    private readonly SqlConditions? _sql = rule.Match.Sql is { } sql ? new SqlConditions(sql, AllMustMatch(effect)) : null;
    private readonly ExecConditions? _exec = rule.Match.Exec is { } exec ? new ExecConditions(exec, AllMustMatch(effect)) : null;
    private readonly McpConditions? _mcp = rule.Match.Mcp is { } mcp ? new McpConditions(mcp, AllMustMatch(effect)) : null;

    // An allow rule vouches for the whole action; a deny or approval rule needs one bad element only.
    private static bool AllMustMatch(Decision effect) => effect == Decision.Allow;

    public string Id => rule.Id;
    public Decision Effect => effect;
    public int Order => order;
    public Obligations? Obligations => obligations;

    /// <summary>When set, the rule applies only once this budget is spent.</summary>
    public Budgets.Budget? Budget => budget;
    public IReadOnlyList<string> Approvers => rule.Approvers;
    public string Reason => rule.Reason ?? rule.Description ?? $"rule '{rule.Id}'";

    private bool HasHttpConditions => _methods.Count > 0 || _paths.Length > 0 || _query.Length > 0;

    public bool Matches(Principal principal, AgentAction action, ActionAnalysis analysis)
    {
        // Hot path (every rule, every request): plain loops, cheapest checks first.
        if (_connections.Count > 0 && !_connections.Contains(action.Connection)) return false;
        if (_protocols.Count > 0 && !_protocols.Contains(action.Protocol)) return false;
        if (_subjects.Count > 0 && !_subjects.Contains(principal.Subject)) return false;
        if (_groups.Count > 0 && !InAnyGroup(principal.Groups)) return false;
        if (_hosts.Length > 0 && !(connectionHosts.GetValueOrDefault(action.Connection) is { } host && _hosts.Any(h => h.IsMatch(host))))
            return false;

        if (HasHttpConditions)
        {
            if (action.Protocol != Protocols.Http) return false;
            if (_methods.Count > 0 && (action.Method is null || !_methods.Contains(action.Method))) return false;
            if (_paths.Length > 0 && (action.Path is null || !AnyPathMatches(action.Path))) return false;
            if (_query.Length > 0 && !_query.Any(q => q.IsMatch(analysis.Query, AllMustMatch(effect)))) return false;
        }
        if (_mcp is not null && !_mcp.Matches(action, analysis)) return false;
        // With sql_argument / command_argument, the sql: and exec: conditions judge that argument of the MCP call.
        var sql = _mcp?.SqlArgument is { } sqlArgument ? analysis.SqlArgument(sqlArgument) : analysis.Sql;
        var command = _mcp?.CommandArgument is { } commandArgument ? analysis.CommandArgument(commandArgument) : analysis.Shell;
        if (_sql is not null && (sql is not { Error: null } sqlAnalysis || !_sql.Matches(sqlAnalysis))) return false;
        if (_exec is not null && (command is not { Unanalysable: null } shell || !_exec.Matches(shell))) return false;
        return true;
    }

    private bool InAnyGroup(IReadOnlyList<string> groups)
    {
        for (var i = 0; i < groups.Count; i++)
            if (_groups.Contains(groups[i])) return true;
        return false;
    }

    private bool AnyPathMatches(string path)
    {
        foreach (var glob in _paths)
            if (glob.IsMatch(path)) return true;
        return false;
    }

    private static bool Over<T>(IEnumerable<T> elements, bool all, Func<T, bool> match) =>
        all ? elements.All(match) : elements.Any(match);

    private sealed class SqlConditions(SqlMatchConfig config, bool all)
    {
        private readonly HashSet<string> _kinds = new(config.Kinds, StringComparer.OrdinalIgnoreCase);
        private readonly TablePattern[] _tables = [.. config.Tables.Select(t => new TablePattern(t))];
        private readonly TablePattern[] _reads = [.. config.Reads.Select(t => new TablePattern(t))];
        private readonly TablePattern[] _writes = [.. config.Writes.Select(t => new TablePattern(t))];
        private readonly NameGlob[] _functions = [.. config.Functions.Select(f => new NameGlob(f, ignoreCase: true))];
        private readonly NameGlob[] _columns = [.. config.Columns.Select(c => new NameGlob(c, ignoreCase: true))];

        public bool Matches(SqlAnalysis sql) =>
            (_kinds.Count == 0 || Over(sql.Kinds, all, _kinds.Contains)) &&
            (_tables.Length == 0 || Over(sql.Tables, all, t => _tables.Any(p => p.IsMatch(t, sql.SearchPath)))) &&
            (_reads.Length == 0 || Over(sql.TablesRead, all, t => _reads.Any(p => p.IsMatch(t, sql.SearchPath)))) &&
            (_writes.Length == 0 || Over(sql.TablesWritten, all, t => _writes.Any(p => p.IsMatch(t, sql.SearchPath)))) &&
            (_functions.Length == 0 || Over(sql.Functions, all, f => _functions.Any(p => p.IsMatch(f)))) &&
            (_columns.Length == 0 || Over(sql.Columns, all, c => _columns.Any(p => p.IsMatch(c))));
    }

    private sealed class ExecConditions(ExecMatchConfig config, bool all)
    {
        private readonly NameGlob[] _programs = [.. config.Programs.Select(p => new NameGlob(p, ignoreCase: false))];
        private readonly HashSet<string> _flags = new(config.Flags, StringComparer.Ordinal);
        private readonly NameGlob[] _arguments = [.. config.Arguments.Select(a => new NameGlob(a, ignoreCase: false))];
        private readonly FilePathPattern[] _paths = [.. config.Paths.SelectMany(FilePathPattern.OfRule)];

        public bool Matches(ShellAnalysis shell)
        {
            if (config.Network is { } network && shell.UsesNetwork != network) return false;
            if (config.PipesIntoInterpreter is { } piped && shell.PipesIntoInterpreter != piped) return false;
            if (config.InlineCode is { } inline && shell.RunsInlineCode != inline) return false;
            if (config.RunsProgram is { } runs && shell.RunsProgram != runs) return false;
            if (config.WritesFiles is { } writes && shell.WritesFiles != writes) return false;
            if (config.EnvOverride is { } env && shell.OverridesEnvironment != env) return false;
            if (_programs.Length > 0 && !Over(shell.Commands, all, IsListedProgram)) return false;
            var commands = _programs.Length == 0 ? shell.Commands : shell.Commands.Where(IsListedProgram).ToList();
            if (_flags.Count > 0 && !commands.Any(c => c.Flags.Any(HasFlag))) return false;
            if (_paths.Length > 0 && !PathsMatch(shell)) return false;
            return _arguments.Length == 0 || commands.Any(c => c.Arguments.Any(a => _arguments.Any(p => p.IsMatch(a))));
        }

        // A deny or approval rule applies when any path a file argument can stand for meets one of its paths; an allow
        // rule vouches only for files that are certainly inside its paths, so each must be one literal path.
        private bool PathsMatch(ShellAnalysis shell) => all
            ? shell.Paths.Count > 0 && shell.Paths.All(p => p.Patterns.All(path => _paths.Any(rule => rule.Contains(path))))
            : shell.Paths.Any(p => p.Patterns.Any(path => _paths.Any(path.Intersects)));

        private bool IsListedProgram(ShellCommand command) =>
            _programs.Any(p => p.IsMatch(p.Pattern.Contains('/') ? command.Path : command.Program));

        // "-r" also matches inside a cluster such as "-rf".
        private bool HasFlag(string flag) =>
            _flags.Contains(flag) ||
            !flag.StartsWith("--", StringComparison.Ordinal) && flag.Skip(1).Any(letter => _flags.Contains($"-{letter}"));
    }

    /// <summary>
    /// A query field the rule names (compared in <see cref="ActionAnalysis.QueryName"/> form), with a value pattern or
    /// none. A name sent more than once ("?id=1&amp;id=2") is read one way by one upstream and another way by the next:
    /// a deny or approval rule holds when any value matches, an allow rule only when every value does.
    /// </summary>
    private sealed record QueryCondition(string Name, NameGlob? Value)
    {
        public static QueryCondition Parse(string text) =>
            text.IndexOf('=') is var at && at > 0
                ? new QueryCondition(ActionAnalysis.QueryName(text[..at]), new NameGlob(text[(at + 1)..], ignoreCase: false))
                : new QueryCondition(ActionAnalysis.QueryName(text), null);

        public bool IsMatch(ILookup<string, string> query, bool every) =>
            query.Contains(Name) && (Value is null || (every ? query[Name].All(Value.IsMatch) : query[Name].Any(Value.IsMatch)));
    }
}
