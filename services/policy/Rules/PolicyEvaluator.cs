using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;

namespace Portcullis.Policy.Rules;

/// <summary>A decision with the analysis it was made on (for the dry-run API and the logs).</summary>
public sealed record PolicyDecision(PolicyEvaluated Evaluated, ActionAnalysis Analysis);

/// <summary>
/// Decides a request. What cannot be parsed (SQL the parser rejects) or analysed with confidence (a command
/// line whose programs are only known at run time) is denied before any rule is asked. Otherwise every rule
/// is checked; the strictest effect among those that match wins (deny over require_approval over allow), the
/// earliest in the file among equals, so the answer never depends on timing. When nothing matches, the
/// connection's default effect decides. Obligations are the strictest of the connection's and every matching
/// rule's.
/// </summary>
public sealed class PolicyEvaluator(SqlStatementAnalyzer sql, ShellCommandAnalyzer shell, TimeProvider clock)
{
    public const string UnparsableSqlRule = "builtin:sql-unparsable";
    public const string UnanalysableCommandRule = "builtin:command-unanalysable";
    public const string ObligationEscapeRule = "builtin:obligation-escape";
    public const string MaskedColumnFlowRule = "builtin:masked-column-flow";
    public const string UnanalysableArgumentRule = "builtin:mcp-argument-unanalysable";
    public const string SessionSettingRule = "builtin:session-setting";

    // Statements that could end the gateway's transaction or change its settings, and so lift a read-only
    // or statement-timeout obligation for what follows them.
    private static readonly string[] ObligationEscapes = ["transaction", "set", "do", "call", "execute", "prepare", "admin_function", "admin"];

    /// <summary>
    /// Decides <paramref name="request"/>. A rule with a budget applies only when <paramref name="budgets"/> has it spent;
    /// without them every budget is unspent.
    /// </summary>
    public PolicyDecision Evaluate(CompiledPolicy policy, RequestReceived request, Budgets.BudgetUsage? budgets = null)
    {
        var (principal, action) = (request.Principal, request.Action);
        var analysis = ActionAnalysis.Of(action, sql, shell);

        if (analysis.Sql?.Error is { } parseError)
            return Decided(policy, request, analysis, Decision.Deny, UnparsableSqlRule,
                $"PostgreSQL's parser rejected the SQL: {parseError}.", [], Obligations.None);
        if (analysis.Shell is { } commandLine && (commandLine.Unanalysable is not null || commandLine.Commands.Count == 0))
            return Decided(policy, request, analysis, Decision.Deny, UnanalysableCommandRule,
                $"The command cannot be analysed with confidence: {commandLine.Unanalysable ?? "it runs no program"}.", [], Obligations.None);

        var matched = policy.Rules.Where(rule => rule.Matches(principal, action, analysis)
                                                 && (rule.Budget is null || budgets?.Spent(rule.Budget) is not null)).ToArray();
        var winner = matched.OrderByDescending(rule => rule.Effect).ThenBy(rule => rule.Order).FirstOrDefault();
        // An MCP argument a rule named as SQL or a command that the analysis could not judge: refused, whatever matched.
        if (analysis.UnanalysableArgument is { } unsure)
            return Decided(policy, request, analysis, Decision.Deny, UnanalysableArgumentRule, unsure, matched, Obligations.None);

        // Built in, whatever the rules allow or send to approval: masked columns stay masked wherever they flow
        // (a rule's own denial says more, so it stands).
        var masked = policy.MaskedColumns.GetValueOrDefault(action.Connection, MaskedColumns.None);
        var flow = analysis.Sql is null || masked.IsEmpty ? null : MaskedColumnFlow.Analyze(action.Sql!, masked);
        if (winner?.Effect != Decision.Deny && flow?.Refusal is { } leak)
            return Decided(policy, request, analysis, Decision.Deny, MaskedColumnFlowRule, leak, matched, Obligations.None);
        var obligations = matched.Select(rule => rule.Obligations).OfType<Obligations>()
            .Aggregate(policy.ConnectionObligations.GetValueOrDefault(action.Connection) ?? Obligations.None, CompiledPolicy.Strictest);
        // The gateway refuses views over masked columns at run time, when it can read the catalogue: it needs the names.
        if (flow is not null)
            obligations = obligations with { Relations = [.. flow.Relations.Union(analysis.Sql!.Tables.Select(t => t.ToString())).Order(StringComparer.Ordinal)] };

        // An MCP call's SQL argument a rule analysed: masked columns stay masked there too, by the output names the
        // masking service finds in the tool's result (the upstream's rows carry no column origin).
        if (action.Protocol == Contracts.Protocols.Mcp && !masked.IsEmpty)
        {
            var origins = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
            var relations = new SortedSet<string>(StringComparer.Ordinal);
            var analysed = false;
            foreach (var text in analysis.AnalysedSqlArguments)
            {
                var argumentFlow = MaskedColumnFlow.Analyze(text, masked);
                analysed = true;
                // The gateway vets them for views over masked columns, through the connection's catalogue (as for /sql).
                relations.UnionWith(argumentFlow.Relations);
                var refusal = argumentFlow.Refusal ?? (argumentFlow.MaskedStar is { } star
                    ? $"The statement selects * over a masked column ({star}), and this tool's result names no column origin: " +
                      "select the columns by name (a masked one bare, e.g. SELECT id, name FROM <schema>.<table>) to get its masked value."
                    : null);
                if (winner?.Effect != Decision.Deny && refusal is not null)
                    return Decided(policy, request, analysis, Decision.Deny, MaskedColumnFlowRule, refusal, matched, Obligations.None);
                foreach (var (name, patterns) in argumentFlow.OutputOrigins)
                {
                    if (!origins.TryGetValue(name, out var all)) origins[name] = all = new SortedSet<string>(StringComparer.Ordinal);
                    all.UnionWith(patterns);
                }
            }
            if (origins.Count > 0)
                obligations = obligations with { ColumnOrigins = origins.ToDictionary(o => o.Key, o => (IReadOnlyList<string>)[.. o.Value], StringComparer.Ordinal) };
            if (analysed)
                obligations = obligations with { Relations = [.. relations] };
        }

        // A rule's own denial says more; the escape check stands in only for what would otherwise run.
        if (winner?.Effect != Decision.Deny && analysis.Sql is { } statements && (obligations.ReadOnly || obligations.StatementTimeoutMs is not null)
            && !IsWireTransactionControl(action, statements)
            && ObligationEscapes.FirstOrDefault(statements.Kinds.Contains) is { } escape)
            return Decided(policy, request, analysis, Decision.Deny, ObligationEscapeRule,
                $"This connection runs SQL {(obligations.ReadOnly ? "read-only" : "with a statement timeout")}, and '{escape}' statements could lift that; send the statements without them.",
                matched, Obligations.None);

        // Built in too: a setting outside what agents may set would make PostgreSQL read or run later statements otherwise
        // than the analysis judged them, or lift what the gateway sets (where obligations apply the escape check above
        // says so first), so no rule can allow it.
        if (winner?.Effect != Decision.Deny && analysis.Sql?.SettingsChanged.Order(StringComparer.Ordinal).FirstOrDefault() is { } setting)
            return Decided(policy, request, analysis, Decision.Deny, SessionSettingRule, SettingRefusal(setting), matched, Obligations.None);

        if (winner is not null)
            return Decided(policy, request, analysis, winner.Effect, winner.Id,
                winner.Budget is { } budget ? budgets!.Spent(budget)!.Describe(winner.Reason) : winner.Reason, matched, obligations);
        if (policy.ConnectionDefaults.TryGetValue(action.Connection, out var connectionDefault))
            return Decided(policy, request, analysis, connectionDefault, null,
                $"No rule matched; the default for connection '{action.Connection}' is {(connectionDefault == Decision.Allow ? "allow" : "deny")}.",
                matched, obligations);
        return Decided(policy, request, analysis, Decision.Deny, null, $"Connection '{action.Connection}' is not configured.", matched, obligations);
    }

    private static string SettingRefusal(string setting) =>
        (setting == "*"
            ? "The statement changes a setting that is only known when it runs (set_config with a computed name, or an UPDATE of pg_settings)"
            : $"The statement sets '{setting}'") +
        ", which agents may not change: the gateway judges each statement as PostgreSQL reads it with its default settings, and " +
        "a setting such as standard_conforming_strings, backslash_quote or client_encoding changes how the server reads the " +
        "statements after it, role and session_authorization whose rights run them, custom settings (app.*) what row-level " +
        "security lets through, and timeouts or read-only what the gateway set. Agents may set presentation and planner " +
        "settings (DateStyle, TimeZone, IntervalStyle, extra_float_digits, application_name, enable_*, ...), transaction " +
        "isolation, and search_path with SET.";

    /// <summary>
    /// The PostgreSQL wire listener's transaction control: one BEGIN, COMMIT, ROLLBACK, SAVEPOINT... sent alone, in an action
    /// that names the transaction (only the gateway sets it). It runs on the transaction's pinned connection, and the
    /// gateway sets each later statement's obligations again right before it (read-only for the rest of the transaction
    /// once one statement was read-only), so it cannot lift them: it is judged by the rules, not refused as an escape.
    /// </summary>
    /// Only in the canonical form the gateway rebuilds it in (it never runs the agent's own text for one), so no comment,
    /// string or odd character can make the gateway and PostgreSQL read it differently.
    private static bool IsWireTransactionControl(AgentAction action, Analysis.Sql.SqlAnalysis sql) =>
        action.Transaction is not null && action.Sql is { } text && CanonicalTransactionControl.IsMatch(text)
        && sql.Statements.Count == 1 && sql.Kinds.Count == 1 && sql.Kinds.Contains("transaction");

    private static readonly System.Text.RegularExpressions.Regex CanonicalTransactionControl = new(
        """^(?:BEGIN(?: [A-Z]+(?: [A-Z]+)*(?:, [A-Z]+(?: [A-Z]+)*)*)?|COMMIT|ROLLBACK|(?:SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) "(?:[^"\x00-\x1f]|"")+")$""",
        System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    private PolicyDecision Decided(CompiledPolicy policy, RequestReceived request, ActionAnalysis analysis, Decision decision,
        string? ruleId, string reason, IReadOnlyList<CompiledRule> matched, Obligations obligations)
    {
        var winner = matched.FirstOrDefault(rule => rule.Id == ruleId);
        return new PolicyDecision(new PolicyEvaluated(
            request.RequestId,
            request.SessionId,
            decision,
            ruleId,
            reason,
            [.. matched.Select(rule => rule.Id)],
            decision == Decision.RequireApproval && winner is not null ? winner.Approvers : [],
            policy.Version,
            request.Principal,
            request.Action,
            clock.GetUtcNow(),
            decision == Decision.Deny ? null : obligations), analysis);
    }
}
