using System.Collections.Concurrent;
using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Gateway.RequestFlow;

/// <summary>
/// Requests held for an approver's decision, by approval id. A waiter is registered before the approval is
/// asked for, so a decision cannot arrive unseen between the two.
/// </summary>
public sealed class ApprovalWaiters
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<IRequestMessage>> _waiting = new();

    public Waiter Register(Guid approvalId) =>
        new(this, approvalId, _waiting.GetOrAdd(approvalId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)));

    public void Complete(Guid approvalId, IRequestMessage decision)
    {
        if (_waiting.TryGetValue(approvalId, out var waiter)) waiter.TrySetResult(decision);
    }

    public sealed class Waiter(ApprovalWaiters owner, Guid approvalId, TaskCompletionSource<IRequestMessage> source) : IDisposable
    {
        /// <summary>The decision (granted, denied or expired), or null when none came within <paramref name="wait"/>.</summary>
        public async Task<IRequestMessage?> WaitAsync(TimeSpan wait, CancellationToken cancellationToken)
        {
            try
            {
                return await source.Task.WaitAsync(wait, cancellationToken);
            }
            catch (TimeoutException)
            {
                return null;
            }
        }

        public void Dispose() => owner._waiting.TryRemove(new(approvalId, source));
    }
}

/// <summary>
/// Hears approvers' decisions on a temporary queue of this gateway instance (every instance hears every
/// decision) and wakes the request that waits for it, if it is held here.
/// </summary>
public sealed class ApprovalDecisionConsumer(ApprovalWaiters waiters) :
    IConsumer<ApprovalGranted>, IConsumer<ApprovalDenied>, IConsumer<ApprovalExpired>
{
    public Task Consume(ConsumeContext<ApprovalGranted> context) => Wake(context.Message.ApprovalId, context.Message);
    public Task Consume(ConsumeContext<ApprovalDenied> context) => Wake(context.Message.ApprovalId, context.Message);
    public Task Consume(ConsumeContext<ApprovalExpired> context) => Wake(context.Message.ApprovalId, context.Message);

    private Task Wake(Guid approvalId, IRequestMessage decision)
    {
        waiters.Complete(approvalId, decision);
        return Task.CompletedTask;
    }
}
