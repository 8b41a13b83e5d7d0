using MassTransit;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Telemetry;
using Portcullis.Contracts;
using Portcullis.Policy.Budgets.Ledger;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy;

/// <summary>Decides every received request: publishes the decision for all, and answers the gateway waiting for it.</summary>
public sealed class RequestReceivedConsumer(PolicyEvaluator evaluator, PolicyProvider policy, BudgetLedger budgets,
    ILogger<RequestReceivedConsumer> logger)
    : IConsumer<RequestReceived>
{
    public async Task Consume(ConsumeContext<RequestReceived> context)
    {
        var (current, request) = (policy.Current, context.Message);
        // Budgets are read before deciding and charged before answering, so the next request of the same agent sees
        // this one (a ledger that cannot be reached fails the request: closed). Without budgets, no database is asked.
        var decision = await budgets.DecideAsync(current, request, usage => evaluator.Evaluate(current, request, usage),
            context.CancellationToken);
        var evaluated = decision.Evaluated;
        logger.LogInformation("Request {RequestId} on {Connection}: {Decision} by {Rule} (policy {Version})",
            evaluated.RequestId, evaluated.Action.Connection, evaluated.Decision, evaluated.RuleId ?? "default",
            evaluated.PolicyVersion);
        PortcullisMetrics.Decisions.Add(1, new("effect", Effect(evaluated.Decision)), new("rule", evaluated.RuleId ?? "default"),
            new("connection", evaluated.Action.Connection));
        // A redelivered RequestReceived (after a broker or process crash) is decided again; the same message id
        // lets the audit keep one decision per request.
        // The answer does not wait for the published decision's confirmation (a disk write at the broker): the
        // RequestReceived stays unacknowledged until both are done, so a decision lost to a crash is made and
        // published again on redelivery. Published first, so the audit queue has it before the gateway moves on.
        var published = context.Publish(evaluated, publish => publish.MessageId = EventMessageId.For<PolicyEvaluated>(evaluated.RequestId));
        var answered = context.ResponseAddress is null ? Task.CompletedTask : context.RespondAsync(evaluated);
        await Task.WhenAll(published, answered);
    }

    private static string Effect(Decision decision) => decision switch
    {
        Decision.Allow => "allow",
        Decision.Deny => "deny",
        Decision.RequireApproval => "require_approval",
        _ => decision.ToString().ToLowerInvariant(),
    };
}
