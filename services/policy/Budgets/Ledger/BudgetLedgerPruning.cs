using Microsoft.Extensions.Options;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Budgets.Ledger;

/// <summary>How long budget charges are kept (section "Budgets").</summary>
public sealed class BudgetRetentionOptions
{
    /// <summary>Charges are kept at least this long, and longer when a budget in force has a longer window.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often old charges are deleted.</summary>
    public TimeSpan PruneEvery { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Charges deleted per statement.</summary>
    public int BatchSize { get; set; } = 5_000;
}

/// <summary>
/// Deletes budget charges and bucket totals no budget can count any more: older than <see cref="BudgetRetentionOptions.Retention"/> and
/// than the longest window of the budgets in force. The retention's floor keeps, for a while, the history a newly
/// published longer window would count. Several policy instances may prune at once: a delete is idempotent.
/// </summary>
public sealed class BudgetLedgerPruning(BudgetLedger ledger, PolicyProvider policy, IOptions<BudgetRetentionOptions> options,
    TimeProvider clock, ILogger<BudgetLedgerPruning> logger) : BackgroundService
{
    /// <summary>The moment before which charges go, under the policy in force.</summary>
    public static DateTimeOffset Horizon(DateTimeOffset now, TimeSpan retention, CompiledPolicy current)
    {
        var longest = current.BudgetRules.Select(r => r.Budget!.Window).DefaultIfEmpty(TimeSpan.Zero).Max();
        return now - (longest > retention ? longest : retention);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.PruneEvery, clock);
        do
        {
            try
            {
                // Not before a version is in force: its windows may be longer than the floor.
                if (!policy.IsLoaded) continue;
                var before = Horizon(clock.GetUtcNow(), settings.Retention, policy.Current);
                long total = 0;
                int deleted;
                do
                {
                    deleted = await ledger.PruneAsync(before, settings.BatchSize, stoppingToken);
                    total += deleted;
                } while (deleted == settings.BatchSize && !stoppingToken.IsCancellationRequested);
                if (total > 0) logger.LogInformation("Budget ledger: charges and bucket totals made before {Before:O} deleted ({Deleted} rows of the larger)", before, total);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Budget ledger: old charges could not be deleted; trying again in {Every}", settings.PruneEvery);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
