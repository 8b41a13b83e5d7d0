using MassTransit;
using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

/// <summary>Records every event of the request saga in the stream of its session.</summary>
public sealed class SessionEventConsumer(SessionRecorder recorder) :
    IConsumer<RequestReceived>, IConsumer<PolicyEvaluated>, IConsumer<ApprovalRequested>, IConsumer<ApprovalGranted>,
    IConsumer<ApprovalDenied>, IConsumer<ApprovalExpired>, IConsumer<RequestForwarded>, IConsumer<ResponseMasked>,
    IConsumer<RequestCompleted>, IConsumer<PolicyPublished>, IConsumer<ApprovalClaimed>, IConsumer<GrantRevoked>
{
    public Task Consume(ConsumeContext<RequestReceived> context) => Record(context);
    public Task Consume(ConsumeContext<PolicyEvaluated> context) => Record(context);
    public Task Consume(ConsumeContext<ApprovalRequested> context) => Record(context);
    public Task Consume(ConsumeContext<ApprovalGranted> context) => Record(context);
    public Task Consume(ConsumeContext<ApprovalDenied> context) => Record(context);
    public Task Consume(ConsumeContext<ApprovalExpired> context) => Record(context);
    public Task Consume(ConsumeContext<RequestForwarded> context) => Record(context);
    public Task Consume(ConsumeContext<ResponseMasked> context) => Record(context);
    public Task Consume(ConsumeContext<RequestCompleted> context) => Record(context);
    public Task Consume(ConsumeContext<PolicyPublished> context) => Record(context);
    public Task Consume(ConsumeContext<ApprovalClaimed> context) => Record(context);
    public Task Consume(ConsumeContext<GrantRevoked> context) => Record(context);

    private Task Record<T>(ConsumeContext<T> context) where T : class, IRequestMessage =>
        recorder.Record(context.Message, context.MessageId, context.CancellationToken);
}

/// <summary>
/// One message at a time on the audit queue, so a session's events are stored in the order the broker
/// delivered them (the saga publishes each only after the previous step's was confirmed). A partitioner
/// keyed by session was tried: it serialises a session's messages but does not keep their order when
/// several deliveries race to it, and a test that restarts the audit service with a backlog caught that.
/// Failed appends are retried, then left in the error queue: nothing is dropped.
/// </summary>
public sealed class SessionEventConsumerDefinition : ConsumerDefinition<SessionEventConsumer>
{
    public SessionEventConsumerDefinition()
    {
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint,
        IConsumerConfigurator<SessionEventConsumer> consumer, IRegistrationContext context)
    {
        endpoint.UseMessageRetry(retry => retry.Intervals(100, 500, 1000, 5000));
    }
}
