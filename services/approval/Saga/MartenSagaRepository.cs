using System.Linq.Expressions;
using Marten;
using MassTransit;
using MassTransit.Context;
using MassTransit.Saga;

namespace Portcullis.Approval.Saga;

/// <summary>
/// Saga persistence on Marten (MassTransit's own Marten package is not served to us). One lightweight
/// session per message; documents use Marten's optimistic concurrency, so two messages that change the same
/// saga at once cannot both win: the loser's save throws <see cref="JasperFx.ConcurrencyException"/>
/// and the endpoint's retry runs it again against the winner's state. A new saga is inserted, never upserted,
/// so a duplicate start fails and is retried against the saga that exists.
/// </summary>
public sealed class MartenSagaRepositoryContextFactory<TSaga>(
    IDocumentStore store, ISagaConsumeContextFactory<IDocumentSession, TSaga> factory) : ISagaRepositoryContextFactory<TSaga>
    where TSaga : class, ISaga
{
    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next) where T : class
    {
        await using var session = store.LightweightSession();
        await next.Send(new MartenSagaRepositoryContext<TSaga, T>(session, context, factory));
    }

    public async Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query,
        IPipe<SagaRepositoryQueryContext<TSaga, T>> next) where T : class
    {
        await using var session = store.LightweightSession();
        var repository = new MartenSagaRepositoryContext<TSaga, T>(session, context, factory);
        var filter = (Expression<Func<TSaga, bool>>)query.FilterExpression;
        var instances = await session.Query<TSaga>().Where(filter).ToListAsync(context.CancellationToken);
        await next.Send(new LoadedSagaRepositoryQueryContext<TSaga, T>(repository, instances));
    }

    public void Probe(ProbeContext context) => context.Add("persistence", "marten");
}

public sealed class MartenSagaRepositoryContext<TSaga, TMessage>(
    IDocumentSession session, ConsumeContext<TMessage> consumeContext, ISagaConsumeContextFactory<IDocumentSession, TSaga> factory)
    : ConsumeContextScope<TMessage>(consumeContext), SagaRepositoryContext<TSaga, TMessage>
    where TSaga : class, ISaga
    where TMessage : class
{
    private readonly ConsumeContext<TMessage> _context = consumeContext;

    public Task<SagaConsumeContext<TSaga, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, TSaga instance,
        SagaConsumeContextMode mode) where T : class =>
        factory.CreateSagaConsumeContext(session, consumeContext, instance, mode);

    public Task<SagaConsumeContext<TSaga, TMessage>> Add(TSaga instance) =>
        factory.CreateSagaConsumeContext(session, _context, instance, SagaConsumeContextMode.Add);

    public async Task<SagaConsumeContext<TSaga, TMessage>> Insert(TSaga instance)
    {
        session.Insert(instance);
        await session.SaveChangesAsync(CancellationToken);
        return await factory.CreateSagaConsumeContext(session, _context, instance, SagaConsumeContextMode.Insert);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>> Load(Guid correlationId)
    {
        var instance = await session.LoadAsync<TSaga>(correlationId, CancellationToken);
        return instance is null
            ? null!
            : await factory.CreateSagaConsumeContext(session, _context, instance, SagaConsumeContextMode.Load);
    }

    /// <summary>A saga created by this message: inserted, so a concurrent creation of the same id fails.</summary>
    public Task Save(SagaConsumeContext<TSaga> sagaContext)
    {
        session.Insert(sagaContext.Saga);
        return session.SaveChangesAsync(CancellationToken);
    }

    /// <summary>A loaded saga: stored against the version it was loaded at.</summary>
    public Task Update(SagaConsumeContext<TSaga> sagaContext)
    {
        session.Store(sagaContext.Saga);
        return session.SaveChangesAsync(CancellationToken);
    }

    public Task Delete(SagaConsumeContext<TSaga> sagaContext)
    {
        session.Delete(sagaContext.Saga);
        return session.SaveChangesAsync(CancellationToken);
    }

    public Task Discard(SagaConsumeContext<TSaga> sagaContext) => Task.CompletedTask;

    public Task Undo(SagaConsumeContext<TSaga> sagaContext)
    {
        session.Eject(sagaContext.Saga);
        return Task.CompletedTask;
    }
}
