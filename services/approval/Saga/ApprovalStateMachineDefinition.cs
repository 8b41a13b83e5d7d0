using MassTransit;

namespace Portcullis.Approval.Saga;

/// <summary>Retries a command that lost a race for the same approval, and holds its events and answer until the state is saved.</summary>
public sealed class ApprovalStateMachineDefinition : SagaDefinition<ApprovalState>
{
    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpoint, ISagaConfigurator<ApprovalState> saga,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(retry =>
        {
            retry.Handle<JasperFx.ConcurrencyException>();
            retry.Handle<JasperFx.DocumentAlreadyExistsException>();
            retry.Handle<Npgsql.NpgsqlException>();
            retry.Intervals(10, 50, 100, 250, 500, 1000, 2000);
        });
        endpoint.UseInMemoryOutbox(context);
    }
}
