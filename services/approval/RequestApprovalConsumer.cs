using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Approval;

/// <summary>
/// Answers the gateway's <see cref="RequestApproval"/> with what <see cref="ApprovalIntake"/> decides: a covering grant
/// at once; a newly opened approval is answered by the saga once stored.
/// </summary>
public sealed class RequestApprovalConsumer(ApprovalIntake intake) : IConsumer<RequestApproval>
{
    public async Task Consume(ConsumeContext<RequestApproval> context)
    {
        if (await intake.TakeAsync(context, context.CancellationToken) is { } granted) await context.RespondAsync(granted);
    }
}
