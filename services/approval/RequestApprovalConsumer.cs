using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Approval;

/// <summary>Answers the gateway's <see cref="RequestApproval"/> with what <see cref="ApprovalIntake"/> decides.</summary>
public sealed class RequestApprovalConsumer(ApprovalIntake intake) : IConsumer<RequestApproval>
{
    public async Task Consume(ConsumeContext<RequestApproval> context) =>
        await context.RespondAsync(await intake.TakeAsync(context.Message, context, context.CancellationToken));
}
