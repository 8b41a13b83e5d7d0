using Marten;
using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;

namespace Portcullis.Approval;

/// <summary>
/// Expires approvals whose deadline passed. The deadline is part of the saga's stored state, so expiry
/// survives restarts: whichever approval instance runs next finds what is overdue and sends the saga
/// <see cref="ExpireApproval"/> (idempotent: only a pending approval past its deadline changes).
/// </summary>
public sealed class ApprovalExpirySweep(IServiceScopeFactory scopes, IOptions<ApprovalOptions> options, TimeProvider clock,
    ILogger<ApprovalExpirySweep> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ExpirySweepInterval, clock);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Expiry sweep failed ({Reason}: {Message}); retrying at the next interval",
                    ex.GetType().Name, ex.Message);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task SweepAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var store = scope.ServiceProvider.GetRequiredService<IQuerySession>();
        var now = clock.GetUtcNow();
        var overdue = await store.Query<ApprovalState>()
            .Where(a => a.CurrentState == ApprovalStates.Pending && a.ExpiresAt <= now)
            .Select(a => a.CorrelationId)
            .Take(500)
            .ToListAsync(cancellationToken);
        if (overdue.Count == 0) return;
        var publisher = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
        foreach (var id in overdue) await publisher.Publish(new ExpireApproval(id), cancellationToken);
        logger.LogInformation("Expiring {Count} approval(s) past their deadline", overdue.Count);
    }
}
