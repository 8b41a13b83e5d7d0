using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Policy.Budgets;
using Portcullis.Policy.Budgets.Ledger;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Apis;

/// <summary>The admins' view of budgets: how much of each budget in force each identity or session has used.</summary>
public static class BudgetsApi
{
    /// <summary>The most scopes listed per budget.</summary>
    public const int MaxScopes = 1000;

    public static IEndpointRouteBuilder MapBudgetsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/policy/budgets", List).RequireAuthorization(Extensions.AdminPolicy)
            .WithTags("Policy").WithName("GetBudgets").WithSummary("How much of each budget in force each identity or session has used")
            .WithDescription("For each budgeted rule of the version in force (or the one named by rule), the identities or sessions " +
                             "(scope, for example identity:agent-1 or session:abc) that drew on it within its window, most recent first: " +
                             "use and limit by measure, whether it is spent and when it frees up.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    public sealed record BudgetView(string Rule, string Window, string Per, IReadOnlyList<BudgetScopeView> Scopes);

    public sealed record BudgetScopeView(string Scope, bool Spent, DateTimeOffset? FreesAt, IReadOnlyList<BudgetMeasureView> Measures);

    public sealed record BudgetMeasureView(string Measure, long Used, long Limit);

    public static async Task<Results<Ok<IReadOnlyList<BudgetView>>, ProblemHttpResult>> List(string? rule, string? scope, int? limit,
        PolicyProvider policy, BudgetLedger ledger, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxScopes)
            return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: $"limit is between 1 and {MaxScopes} (default 100).");
        if (!policy.IsLoaded)
            return TypedResults.Problem(statusCode: 503, title: "No policy version is in force yet", detail: "Try again in a moment.");
        var budgets = policy.Current.BudgetRules.Select(r => r.Budget!).Where(b => rule is null || b.RuleId == rule).ToArray();
        if (rule is not null && budgets.Length == 0)
            return TypedResults.Problem(statusCode: 400, title: "No such budget",
                detail: $"The policy in force has no rule '{rule}' with a budget; GET /policy/budgets lists those it has.");
        var now = clock.GetUtcNow();
        var views = new List<BudgetView>();
        foreach (var budget in budgets)
        {
            var scopes = await ledger.ReadWindowAsync(budget, string.IsNullOrEmpty(scope) ? null : scope, limit ?? 100, cancellationToken);
            views.Add(new BudgetView(budget.RuleId, budget.WindowText, budget.PerText, [.. scopes
                .Select(s => (s.Scope, Standing: budget.Standing(s.Charges, now)))
                .Select(s => new BudgetScopeView(s.Scope, s.Standing.Spent, s.Standing.FreesAt,
                    [.. s.Standing.Used.Select(u => new BudgetMeasureView(u.Limit.Measure, u.Used, u.Limit.Limit))]))]));
        }
        return TypedResults.Ok<IReadOnlyList<BudgetView>>(views);
    }
}
