using Portcullis.Contracts;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Budgets;

/// <summary>
/// The standing of the budgets one request draws on, read before it is decided. Without one (policy tests unless they
/// say otherwise, simulation, the dry-run API) every budget counts as unspent, so a budgeted rule does not apply.
/// </summary>
public sealed class BudgetUsage
{
    private readonly Func<Budget, BudgetStanding?> _standing;

    private BudgetUsage(Func<Budget, BudgetStanding?> standing) => _standing = standing;

    public static readonly BudgetUsage Unspent = new(_ => null);

    /// <summary>The charges of each rule's budget in the request's scope, as read from the ledger, standing at <paramref name="now"/>.</summary>
    public static BudgetUsage Of(IReadOnlyDictionary<string, IReadOnlyList<BudgetCharge>> chargesByRule, DateTimeOffset now) =>
        new(budget => budget.Standing(chargesByRule.GetValueOrDefault(budget.RuleId) ?? [], now));

    /// <summary>For a policy test case: the budgets of these rules taken as spent, the others as unspent.</summary>
    public static BudgetUsage SpentFor(IReadOnlyCollection<string> ruleIds) => ruleIds.Count == 0 ? Unspent : new(budget =>
        ruleIds.Contains(budget.RuleId)
            ? new BudgetStanding(budget, true, [.. budget.Limits.Select(l => (l, l.Limit))], null)
            : null);

    /// <summary>The budget's standing when it is spent; null when within budget.</summary>
    public BudgetStanding? Spent(Budget budget) => _standing(budget) is { Spent: true } standing ? standing : null;
}

/// <summary>What a request draws on, for the ledger: the budgeted rules it matched and its scope for each.</summary>
public sealed record BudgetDraw(string RuleId, string Scope);

public static class BudgetDraws
{
    /// <summary>
    /// The budgets a decided request draws on: every budgeted rule it matches, spent or not, unless it was denied (a
    /// refused request uses nothing).
    /// </summary>
    public static IReadOnlyList<BudgetDraw> Of(CompiledPolicy policy, RequestReceived request, PolicyDecision decision) =>
        policy.BudgetRules.Count == 0 || decision.Evaluated.Decision == Decision.Deny ? [] :
        [.. policy.BudgetRules.Where(rule => rule.Matches(request.Principal, request.Action, decision.Analysis))
            .Select(rule => new BudgetDraw(rule.Id, rule.Budget!.ScopeOf(request)))];
}
