using System.Collections.Concurrent;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Portcullis.Approval;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;

namespace Portcullis.UnitTests.Approval;

/// <summary>
/// The approval state machine on MassTransit's test harness: its definition (retry, in-memory outbox) and an
/// in-memory saga repository, a clock the specs set, and every event it publishes with its message id. The Marten
/// repository and the races it settles with optimistic concurrency are covered by the end-to-end tests.
/// </summary>
public sealed class ApprovalSagaHarness : IAsyncDisposable
{
    public static readonly Principal Agent = new("agent-7", "cli", ["agents"]);
    public static readonly Principal Alice = new("alice", null, ["dba"]);
    public static readonly Principal Bob = new("bob", null, ["dba", "oncall"]);
    public static readonly Principal Mallory = new("mallory", null, ["sales"]);
    public static readonly Principal Admin = new("root", null, ["admins"]);
    /// <summary>The agent that asked, who is also in the approver group.</summary>
    public static readonly Principal AgentApprover = new("agent-7", "cli", ["agents", "dba"]);

    public static readonly AgentAction Invoices = new(Protocols.Sql, "billing", Sql: "SELECT * FROM invoices", Parameters: "[]");
    public const string ActionHash = "sha256:invoices";
    public const string Rule = "invoices-need-approval";
    public const string Session = "session-1";

    private readonly ServiceProvider _provider;
    private readonly ConcurrentQueue<(Guid? MessageId, object Message)> _published = new();
    private readonly ConcurrentDictionary<Guid, Guid> _requests = new();

    private ApprovalSagaHarness(ServiceProvider provider, ManualClock clock)
    {
        _provider = provider;
        Clock = clock;
        Harness = provider.GetRequiredService<ITestHarness>();
        Saga = Harness.GetSagaStateMachineHarness<ApprovalStateMachine, ApprovalState>();
    }

    public ManualClock Clock { get; }
    public ITestHarness Harness { get; }
    public ISagaStateMachineTestHarness<ApprovalStateMachine, ApprovalState> Saga { get; }

    public static async Task<ApprovalSagaHarness> StartAsync()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 12, 3, 6, 0, 0, TimeSpan.Zero));
        var services = new ServiceCollection().AddLogging().AddSingleton<TimeProvider>(clock);
        services.Configure<ApprovalOptions>(o => (o.MaxGrantWindow, o.AdminGroup, o.DefaultApproverGroups) =
            (TimeSpan.FromHours(8), "admins", ["approvers"]));
        services.AddMassTransitTestHarness(bus =>
            bus.AddSagaStateMachine<ApprovalStateMachine, ApprovalState>(typeof(ApprovalStateMachineDefinition)).InMemoryRepository());
        var harness = new ApprovalSagaHarness(services.BuildServiceProvider(true), clock);
        await harness.Harness.Start();
        harness.Harness.Bus.ConnectPublishObserver(new Recorder(harness._published));
        return harness;
    }

    /// <summary>Opens an approval (as the intake does) and waits until the saga holds it, pending.</summary>
    public async Task<Guid> OpenAsync(Guid? approvalId = null, IReadOnlyList<string>? approverGroups = null,
        string? actionHash = ActionHash, TimeSpan? expiresIn = null)
    {
        var requested = Requested(approvalId ?? NewId.NextGuid(), approverGroups, actionHash, expiresIn);
        await Harness.Bus.Publish(requested);
        return await Saga.Exists(requested.ApprovalId, m => m.Pending)
               ?? throw new InvalidOperationException($"Approval {requested.ApprovalId} was not opened.");
    }

    /// <summary>Opens an approval and has Alice grant it, once or (with <paramref name="window"/>) for a time window.</summary>
    public async Task<Guid> GrantedAsync(TimeSpan? window = null)
    {
        var id = await OpenAsync();
        return await ApproveAsync(id, Alice, window) is ApprovalStatus { State: ApprovalStates.Granted }
            ? id
            : throw new InvalidOperationException($"Approval {id} was not granted.");
    }

    public ApprovalRequested Requested(Guid approvalId, IReadOnlyList<string>? approverGroups = null,
        string? actionHash = ActionHash, TimeSpan? expiresIn = null) =>
        new(approvalId, RequestOf(approvalId), Session, Agent, Invoices, Rule, "Invoices hold personal data.", approverGroups ?? ["dba"],
            Clock.GetUtcNow(), Clock.GetUtcNow() + (expiresIn ?? TimeSpan.FromMinutes(15)), actionHash);

    /// <summary>The request an approval was opened for.</summary>
    public Guid RequestOf(Guid approvalId) => _requests.GetOrAdd(approvalId, _ => NewId.NextGuid());

    public static ApprovableRequest Request(Guid requestId, Principal? requester = null, AgentAction? action = null,
        string? rule = Rule, string? actionHash = ActionHash) =>
        new(requestId, Session, requester ?? Agent, action ?? Invoices, rule, actionHash);

    public Task<object> ApproveAsync(Guid id, Principal? by = null, TimeSpan? window = null, string? comment = null) =>
        AskAsync(new ApproveApproval(id, by ?? Alice, comment, window));

    public Task<object> DenyAsync(Guid id, Principal? by = null, string? comment = null) =>
        AskAsync(new DenyApproval(id, by ?? Alice, comment));

    public Task<object> ClaimAsync(Guid id, ApprovableRequest? request = null) =>
        AskAsync(new ClaimApproval(id, request ?? Request(RequestOf(id))));

    public Task<object> RevokeAsync(Guid id, Principal by, string? comment = null) => AskAsync(new RevokeGrant(id, by, comment));

    /// <summary>Sends what the expiry sweep sends, and waits until it was handled.</summary>
    public Task ExpireAsync(Guid id) => DeliverAsync(new ExpireApproval(id));

    /// <summary>Publishes <paramref name="message"/> and waits until the saga's endpoint handled it.</summary>
    public async Task DeliverAsync<T>(T message) where T : class
    {
        var messageId = NewId.NextGuid();
        await Harness.Bus.Publish(message, publish => publish.MessageId = messageId);
        // Any gives up once the bus has been idle for the harness's inactivity timeout (1.2 s), and a command that lost a
        // race waits up to seconds before its retry (the definition's intervals): ask again until a deadline.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await Harness.Consumed.Any<T>(x => x.Context.MessageId == messageId))
            if (DateTime.UtcNow > deadline) throw new InvalidOperationException($"{typeof(T).Name} {messageId} was not handled.");
    }

    /// <summary>Where the approval stands, as the saga stored it.</summary>
    public string StateOf(Guid id) => Saga.Sagas.Contains(id)?.CurrentState ?? "(none)";

    /// <summary>Events of <typeparamref name="T"/> as the audit keeps them: one per message id.</summary>
    public IReadOnlyList<(Guid MessageId, T Message)> Published<T>() where T : class =>
        [.. _published.Where(p => p.Message is T).GroupBy(p => p.MessageId!.Value).Select(g => (g.Key, (T)g.First().Message))];

    /// <summary>Every publish of <typeparamref name="T"/>, redeliveries included.</summary>
    public int PublishCount<T>() where T : class => _published.Count(p => p.Message is T);

    private async Task<object> AskAsync<T>(T command) where T : class
    {
        var response = await Harness.GetRequestClient<T>().GetResponse<ApprovalStatus, ApprovalRefused>(command);
        return response.Message;
    }

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _provider.DisposeAsync();
    }

    private sealed class Recorder(ConcurrentQueue<(Guid? MessageId, object Message)> published) : IPublishObserver
    {
        public Task PrePublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

        public Task PostPublish<T>(PublishContext<T> context) where T : class
        {
            published.Enqueue((context.MessageId, context.Message));
            return Task.CompletedTask;
        }

        public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Task.CompletedTask;
    }
}

/// <summary>A clock the specs move by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
