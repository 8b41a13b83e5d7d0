using Portcullis.Contracts;

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
