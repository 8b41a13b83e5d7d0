using Portcullis.Contracts;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Budgets.Ledger;

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
