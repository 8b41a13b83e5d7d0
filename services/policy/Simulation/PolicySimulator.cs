using Portcullis.Contracts;
using Portcullis.Policy.Budgets;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Simulation;

/// <summary>
/// What a simulation is asked: a candidate policy section, a time range, optional filters, and how often (in recorded
/// actions read) to report progress.
/// </summary>
public sealed record SimulateRequest(string? Yaml, DateTimeOffset? From, DateTimeOffset? To, string? Connection, string? Subject,
    int? ProgressEvery = null);

/// <summary>One recorded action whose effect would change under the candidate.</summary>
public sealed record SimulatedChange(Guid RequestId, string SessionId, string Subject, string Connection, string Action,
    DateTimeOffset DecidedAt, string DecidedBy, string OldEffect, string? OldRule, string NewEffect, string? NewRule, string NewReason);

/// <summary>
/// The totals, sent last: recorded actions read, those decided again (past the filters), those that change, and the
/// changes by the candidate's rule and by the rule that decided them.
/// </summary>
public sealed record SimulationSummary(int Decided, int Changed, int UnknownVersions, IReadOnlyDictionary<string, int> ChangedByRule,
    IReadOnlyDictionary<string, int> ChangedByOldRule, int Read);

/// <summary>
/// Decides recorded actions again, under the candidate and under the version that decided each one (versions are
/// kept as events by <see cref="Versions.PolicyVersions"/>), and reports those whose effect would change. Both are
/// decided by today's evaluator, so a change comes from the candidate's rules, not from a change in the analysis.
/// A decision made by a version no longer stored is compared with its recorded effect. Budgets are not replayed: those
/// spent when an action was decided (its matched rules name them) count as spent for it on both sides, the others as
/// unspent.
/// </summary>
public sealed class PolicySimulator(PolicyEvaluator evaluator)
{
    public const string DefaultRule = "(default)";

    public sealed class Run(PolicyEvaluator evaluator, CompiledPolicy candidate, IReadOnlyDictionary<string, CompiledPolicy> versions,
        string? connection, string? subject)
    {
        private readonly Dictionary<string, int> _byRule = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _byOldRule = new(StringComparer.Ordinal);
        /// <summary>Recorded actions read, the filtered-out ones included: what progress counts.</summary>
        public int Read { get; private set; }
        public int Decided { get; private set; }
        public int Changed { get; private set; }
        public int UnknownVersions { get; private set; }

        /// <summary>The change, if this recorded decision would come out otherwise; null when it would not, or is filtered out.</summary>
        public SimulatedChange? Decide(PolicyEvaluated recorded)
        {
            Read++;
            if (connection is not null && !string.Equals(recorded.Action.Connection, connection, StringComparison.Ordinal)) return null;
            if (subject is not null && !string.Equals(recorded.Principal.Subject, subject, StringComparison.Ordinal)) return null;
            Decided++;
            var request = new RequestReceived(recorded.RequestId, recorded.SessionId, recorded.Principal, recorded.Action, recorded.EvaluatedAt);
            // A budgeted rule is among the matched rules only when its budget was spent: those budgets stay spent for this
            // action, under the version that decided it and under the candidate's rules of the same id.
            var spent = recorded.MatchedRules is { Count: > 0 } matched ? BudgetUsage.SpentFor(matched) : BudgetUsage.Unspent;
            var (oldEffect, oldRule) = (recorded.Decision, recorded.RuleId);
            if (versions.TryGetValue(recorded.PolicyVersion, out var decidedBy))
                (oldEffect, oldRule) = Outcome(evaluator.Evaluate(decidedBy, request, spent).Evaluated);
            else UnknownVersions++;
            var now = evaluator.Evaluate(candidate, request, spent).Evaluated;
            if (now.Decision == oldEffect) return null;

            Changed++;
            var key = now.RuleId ?? DefaultRule;
            _byRule[key] = _byRule.GetValueOrDefault(key) + 1;
            var oldKey = oldRule ?? DefaultRule;
            _byOldRule[oldKey] = _byOldRule.GetValueOrDefault(oldKey) + 1;
            return new SimulatedChange(recorded.RequestId, recorded.SessionId, recorded.Principal.Subject, recorded.Action.Connection,
                Describe(recorded.Action), recorded.EvaluatedAt, recorded.PolicyVersion, PolicyTestRunner.EffectName(oldEffect), oldRule,
                PolicyTestRunner.EffectName(now.Decision), now.RuleId, now.Reason);
        }

        public SimulationSummary Summary() => new(Decided, Changed, UnknownVersions,
            new SortedDictionary<string, int>(_byRule, StringComparer.Ordinal), new SortedDictionary<string, int>(_byOldRule, StringComparer.Ordinal), Read);

        private static (Decision, string?) Outcome(PolicyEvaluated evaluated) => (evaluated.Decision, evaluated.RuleId);
    }

    public Run Start(CompiledPolicy candidate, IReadOnlyDictionary<string, CompiledPolicy> versions, string? connection, string? subject) =>
        new(evaluator, candidate, versions, connection, subject);

    public static string Describe(AgentAction action) => action.Protocol switch
    {
        Protocols.Sql => $"SQL {action.Sql}",
        Protocols.Exec => $"command {action.Command}",
        _ => $"{action.Method} {action.Path}{action.Query}",
    };
}
