using MassTransit;
using Portcullis.Defaults.Bus;
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
        // A redelivered RequestReceived (after a broker or process crash) is decided again; the same message id
        // lets the audit keep one decision per request.
        await context.Publish(evaluated, publish => publish.MessageId = EventMessageId.For<PolicyEvaluated>(evaluated.RequestId));
        if (context.ResponseAddress is not null)
            await context.RespondAsync(evaluated);
    }
}
