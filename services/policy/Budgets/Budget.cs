using System.Globalization;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Policy.Budgets;

/// <summary>One measure a budget limits: requests, rows, bytes, or masked values of one entity type.</summary>
public sealed record BudgetLimit(string Measure, long Limit)
{
    public const string Requests = "requests";
    public const string Rows = "rows";
    public const string Bytes = "bytes";

    /// <summary>The entity type, for a masked-values limit ("masked:EMAIL"); null for the others.</summary>
    public string? Entity => Measure.StartsWith("masked:", StringComparison.Ordinal) ? Measure["masked:".Length..] : null;

    public string Describe(long used) => Entity is { } entity
        ? $"{used} of {Limit} masked {entity} values"
        : $"{used} of {Limit} {Measure}";

    public long Of(BudgetCharge charge) => Measure switch
    {
        Requests => charge.Requests,
        Rows => charge.Rows,
        Bytes => charge.Bytes,
        _ => charge.Masked.GetValueOrDefault(Entity!),
    };
}

/// <summary>
/// What one matching action used of a budget: counted from its decision (a request that runs is reserved then), and
/// from its recorded completion and masking report once they arrive.
/// </summary>
public sealed record BudgetCharge(DateTimeOffset At, long Requests, long Rows, long Bytes, IReadOnlyDictionary<string, long> Masked);

/// <summary>A rule's budget, compiled: its limits over a sliding window, kept per identity or per session.</summary>
public sealed record Budget(string RuleId, TimeSpan Window, string WindowText, bool PerSession, IReadOnlyList<BudgetLimit> Limits)
{
    /// <summary>The budget of <paramref name="config"/>, or null with the problems added to <paramref name="errors"/>.</summary>
    public static Budget? From(string ruleId, BudgetConfig config, Decision effect, string where, List<string> errors)
    {
        var problems = config.Problems($"{where}: budget").ToList();
        if (effect == Decision.Allow)
            problems.Add($"{where}: a budget applies the rule's effect once spent, so it needs effect deny or require_approval, not allow");
        errors.AddRange(problems);
        if (problems.Count > 0 || !DurationText.TryParse(config.Window, out var window)) return null;

        var limits = new List<BudgetLimit>();
        if (config.Requests is { } requests) limits.Add(new BudgetLimit(BudgetLimit.Requests, requests));
        if (config.Rows is { } rows) limits.Add(new BudgetLimit(BudgetLimit.Rows, rows));
        if (config.Bytes is { } bytes) limits.Add(new BudgetLimit(BudgetLimit.Bytes, bytes));
        limits.AddRange(config.Masked.OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => new BudgetLimit("masked:" + m.Key, m.Value)));
        return new Budget(ruleId, window, config.Window.Trim(), config.Per == BudgetConfig.PerSession, limits);
    }

    /// <summary>Whose budget a request draws on: its identity (the token's subject) or its session.</summary>
    public string ScopeOf(RequestReceived request) =>
        PerSession ? "session:" + request.SessionId : "identity:" + request.Principal.Subject;

    public string PerText => PerSession ? "per session" : "per identity";

    /// <summary>The requests limit, if the budget has one: the measure the ledger keeps exact under concurrency.</summary>
    public long? RequestLimit => Limits.FirstOrDefault(l => l.Measure == BudgetLimit.Requests)?.Limit;

    /// <summary>How finely the ledger counts the window: in buckets of a sixtieth of it (a minute of an hour), at least a second.</summary>
    public TimeSpan BucketWidth => TimeSpan.FromSeconds(Math.Max(1, (long)Window.TotalSeconds / 60));

    /// <summary>
    /// The end of the bucket <paramref name="at"/> falls in, which is the time the ledger counts a charge at: a charge
    /// then stays in the window up to one bucket longer than its own time would, never less (the budget frees up that
    /// much later, and is never spent later than exactly).
    /// </summary>
    public DateTimeOffset BucketOf(DateTimeOffset at)
    {
        var width = BucketWidth.Ticks;
        var ticks = at.UtcTicks;
        return new DateTimeOffset(ticks - ticks % width + width, TimeSpan.Zero);
    }

    /// <summary>
    /// The budget's standing at <paramref name="now"/> over the charges of one scope (any order; those outside the
    /// window are not counted): spent when any limit is reached, and then when it frees up, which is when enough of the
    /// oldest charges have left the window for every spent limit to be under its limit again.
    /// </summary>
    public BudgetStanding Standing(IEnumerable<BudgetCharge> charges, DateTimeOffset now)
    {
        var since = now - Window;
        var inWindow = charges.Where(c => c.At > since).OrderBy(c => c.At).ToArray();
        var used = Limits.Select(limit => (Limit: limit, Used: inWindow.Sum(limit.Of))).ToArray();
        var spent = used.Where(u => u.Used >= u.Limit.Limit).ToArray();
        if (spent.Length == 0) return new BudgetStanding(this, false, used, null);

        var freesAt = DateTimeOffset.MinValue;
        foreach (var (limit, total) in spent)
        {
            var left = total;
            foreach (var charge in inWindow)
            {
                left -= limit.Of(charge);
                if (left < limit.Limit)
                {
                    if (charge.At + Window > freesAt) freesAt = charge.At + Window;
                    break;
                }
            }
        }
        return new BudgetStanding(this, true, used, freesAt);
    }
}

/// <summary>How much of a budget is used, and, once spent, when it frees up.</summary>
public sealed record BudgetStanding(Budget Budget, bool Spent, IReadOnlyList<(BudgetLimit Limit, long Used)> Used, DateTimeOffset? FreesAt)
{
    /// <summary>What the agent is told: the budget, how much is used, when it frees up, and the rule's own reason.</summary>
    public string Describe(string ruleReason)
    {
        var used = string.Join(", ", Used.Where(u => u.Used >= u.Limit.Limit).Select(u => u.Limit.Describe(u.Used)));
        var frees = FreesAt is { } at ? $"; it frees up at {at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}" : "";
        return $"Budget of rule '{Budget.RuleId}' is spent: {used} {Budget.PerText} in the last {Budget.WindowText}{frees}. {ruleReason}";
    }
}
