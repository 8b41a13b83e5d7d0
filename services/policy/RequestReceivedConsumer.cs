using MassTransit;
using Portcullis.Contracts;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy;

/// <summary>Decides every received request: publishes the decision for all, and answers the gateway waiting for it.</summary>
public sealed class RequestReceivedConsumer(PolicyEvaluator evaluator, PolicyProvider policy, ILogger<RequestReceivedConsumer> logger)
    : IConsumer<RequestReceived>
{
    public async Task Consume(ConsumeContext<RequestReceived> context)
    {
        var evaluated = evaluator.Evaluate(policy.Current, context.Message).Evaluated;
        logger.LogInformation("Request {RequestId} on {Connection}: {Decision} by {Rule} (policy {Version})",
            evaluated.RequestId, evaluated.Action.Connection, evaluated.Decision, evaluated.RuleId ?? "default",
            evaluated.PolicyVersion);
        await context.Publish(evaluated);
        if (context.ResponseAddress is not null)
            await context.RespondAsync(evaluated);
    }
}
