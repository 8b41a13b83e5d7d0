using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Policy.Budgets.Ledger;

/// <summary>Completes the budget charges of a request from its recorded completion: whether it ran, its rows and bytes.</summary>
public sealed class RequestCompletedBudgetConsumer(BudgetLedger ledger) : IConsumer<RequestCompleted>
{
    public Task Consume(ConsumeContext<RequestCompleted> context) => ledger.CompletedAsync(context.Message, context.CancellationToken);
}

/// <summary>Completes the budget charges of a request from its masking report: the values masked, by entity type.</summary>
public sealed class ResponseMaskedBudgetConsumer(BudgetLedger ledger) : IConsumer<ResponseMasked>
{
    public Task Consume(ConsumeContext<ResponseMasked> context) => ledger.MaskedAsync(context.Message, context.CancellationToken);
}

/// <summary>Creates the ledger's table before the bus starts, so the first request can be charged.</summary>
public sealed class BudgetLedgerSetup(BudgetLedger ledger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => ledger.CreateSchemaAsync(cancellationToken);
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
