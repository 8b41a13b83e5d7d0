using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;
using Portcullis.Defaults.Hosting;

namespace Portcullis.Approval;

/// <summary>
/// Expires approvals whose deadline passed. The deadline is part of the saga's stored state, so expiry
/// survives restarts: whichever approval instance runs next finds what is overdue and sends the saga
/// <see cref="ExpireApproval"/> (idempotent: only a pending approval past its deadline changes).
/// </summary>
public sealed class ApprovalExpirySweep(IServiceScopeFactory scopes, IOptions<ApprovalOptions> options, TimeProvider clock,
    ILogger<ApprovalExpirySweep> logger) : PeriodicSweep(clock, logger)
{
    protected override TimeSpan Interval => options.Value.ExpirySweepInterval;

    protected override string AfterFailure => "overdue approvals stay pending until a sweep succeeds";

    protected override async Task SweepAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var overdue = await scope.ServiceProvider.GetRequiredService<ApprovalQueries>().Overdue(Clock.GetUtcNow(), cancellationToken);
        if (overdue.Count == 0) return;
        var publisher = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
        foreach (var id in overdue) await publisher.Publish(new ExpireApproval(id), cancellationToken);
        Logger.LogInformation("Expiring {Count} approval(s) past their deadline", overdue.Count);
    }
}
