using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.Approval.Saga;

/// <summary>
/// Requested -> Granted | Denied | Expired, then Used (a single approval run once) or Revoked (a window ended
/// early). Commands on an approval are requests: each gets the approval's status or the reason it was refused,
/// and a decision is taken once only, because the saga is stored with optimistic concurrency and the loser of a
/// race is retried against the winner's state. Events and answers leave only after the state is saved (outbox),
/// each with a message id derived from the approval (and, for a claim, the request), so a command handled again
/// after a crash publishes the same message and the audit keeps one copy.
/// </summary>
public sealed class ApprovalStateMachine : MassTransitStateMachine<ApprovalState>
{
    public ApprovalStateMachine(TimeProvider clock, IOptions<ApprovalOptions> options)
    {
        InstanceState(x => x.CurrentState);

        Event(() => Requested, e => e.CorrelateById(c => c.Message.ApprovalId));
        Event(() => Expire, e =>
        {
            e.CorrelateById(c => c.Message.ApprovalId);
            e.OnMissingInstance(m => m.Discard());
        });
        Event(() => Approve, e => Answerable(e, c => c.Message.ApprovalId));
        Event(() => Deny, e => Answerable(e, c => c.Message.ApprovalId));
        Event(() => Claim, e => Answerable(e, c => c.Message.ApprovalId));
        Event(() => Revoke, e => Answerable(e, c => c.Message.ApprovalId));

        Initially(
            When(Requested)
                .Then(c => Open(c.Saga, c.Message, options.Value))
                .TransitionTo(Pending)
                .Then(c => PortcullisMetrics.ApprovalsOpened.Add(1, new KeyValuePair<string, object?>("connection", c.Saga.Connection)))
                // The gateway's RequestApproval is answered here, after the approval is stored (the definition's outbox).
                .ThenAsync(c => c.ResponseAddress is null ? Task.CompletedTask : c.RespondAsync(c.Saga.ToStatus())));

        During(Pending,
            When(Approve)
                .IfElse(c => c.Saga.RefusalFor(c.Message.Approver) is null,
                    allowed => allowed
                        .Then(c => Decide(c.Saga, c.Message.Approver, c.Message.Comment, clock,
                            Window(c.Message.Window, options.Value)))
                        .TransitionTo(Granted)
                        .Then(c => Answered(c.Saga, PortcullisMetrics.ApprovalsGranted, "granted"))
                        .Publish(c => new ApprovalGranted(c.Saga.CorrelationId, c.Saga.RequestId, c.Saga.SessionId,
                                c.Saga.DecidedBy!, c.Saga.Comment, c.Saga.GrantedUntil, c.Saga.DecidedAt!.Value, c.Saga.Connection,
                                c.Saga.RuleId),
                            p => p.MessageId = EventMessageId.For<ApprovalGranted>(p.Message.ApprovalId))
                        .ThenAsync(c => c.RespondAsync(c.Saga.ToStatus())),
                    refused => refused.ThenAsync(c => c.RespondAsync(c.Saga.RefusalFor(c.Message.Approver)!))),
            When(Deny)
                .IfElse(c => c.Saga.RefusalFor(c.Message.Approver) is null,
                    allowed => allowed
                        .Then(c => Decide(c.Saga, c.Message.Approver, c.Message.Comment, clock, null))
                        .TransitionTo(Denied)
                        .Then(c => Answered(c.Saga, PortcullisMetrics.ApprovalsDenied, "denied"))
                        .Publish(c => new ApprovalDenied(c.Saga.CorrelationId, c.Saga.RequestId, c.Saga.SessionId,
                                c.Saga.DecidedBy!, c.Saga.Comment, c.Saga.DecidedAt!.Value, c.Saga.Connection, c.Saga.RuleId),
                            p => p.MessageId = EventMessageId.For<ApprovalDenied>(p.Message.ApprovalId))
                        .ThenAsync(c => c.RespondAsync(c.Saga.ToStatus())),
                    refused => refused.ThenAsync(c => c.RespondAsync(c.Saga.RefusalFor(c.Message.Approver)!))),
            When(Expire)
                .If(c => c.Saga.ExpiresAt <= clock.GetUtcNow(), expired => expired
                    .Then(c => c.Saga.DecidedAt = clock.GetUtcNow())
                    .TransitionTo(Expired)
                    .Then(c => Answered(c.Saga, PortcullisMetrics.ApprovalsExpired, "expired"))
                    .Publish(c => new ApprovalExpired(c.Saga.CorrelationId, c.Saga.RequestId, c.Saga.SessionId,
                            c.Saga.DecidedAt!.Value),
                        p => p.MessageId = EventMessageId.For<ApprovalExpired>(p.Message.ApprovalId))),
            // Still pending, but only for the action it was asked for: another one is refused at once, not kept waiting.
            When(Claim)
                .IfElse(c => c.Saga.MismatchFor(c.Message, clock.GetUtcNow()) is null,
                    matching => matching.ThenAsync(c => c.RespondAsync(c.Saga.ToStatus())),
                    mismatch => mismatch.ThenAsync(c => c.RespondAsync(c.Saga.MismatchFor(c.Message, clock.GetUtcNow())!))),
            When(Revoke).ThenAsync(c => c.RespondAsync(Revoker(c.Saga, c.Message, options.Value) ?? NotAGrant(c.Saga))));

        // Once decided, the deadline no longer matters.
        During(Granted,
            Ignore(Expire),
            When(Approve).ThenAsync(c => c.RespondAsync(AlreadyDecided(c.Saga))),
            When(Deny).ThenAsync(c => c.RespondAsync(AlreadyDecided(c.Saga))),
            When(Claim)
                .IfElse(c => c.Saga.MismatchFor(c.Message, clock.GetUtcNow()) is null,
                    matching => matching
                        .If(c => c.Saga.GrantedUntil is null, single => single
                            .Then(c => c.Saga.UsedBy = c.Message.Request.RequestId)
                            .TransitionTo(Used))
                        .Publish(c => new ApprovalClaimed(c.Saga.CorrelationId, c.Message.Request.RequestId,
                                c.Message.Request.SessionId, c.Saga.DecidedBy!, c.Saga.GrantedUntil, clock.GetUtcNow()),
                            p => p.MessageId = ClaimMessageId(p.Message))
                        .ThenAsync(c => c.RespondAsync(c.Saga.ToStatus())),
                    mismatch => mismatch.ThenAsync(c => c.RespondAsync(c.Saga.MismatchFor(c.Message, clock.GetUtcNow())!))),
            When(Revoke)
                .IfElse(c => Revoker(c.Saga, c.Message, options.Value) is not null,
                    unauthorised => unauthorised.ThenAsync(c => c.RespondAsync(Revoker(c.Saga, c.Message, options.Value)!)),
                    allowed => allowed.IfElse(c => c.Saga.GrantedUntil is not null,
                        window => window
                            .TransitionTo(Revoked)
                            .Publish(c => new GrantRevoked(c.Saga.CorrelationId, c.Saga.RequestId, c.Saga.SessionId,
                                    c.Message.RevokedBy.Subject, c.Message.Comment, clock.GetUtcNow()),
                                p => p.MessageId = EventMessageId.For<GrantRevoked>(p.Message.ApprovalId))
                            .ThenAsync(c => c.RespondAsync(c.Saga.ToStatus())),
                        single => single.ThenAsync(c => c.RespondAsync(NotAGrant(c.Saga))))));

        During(Denied, Expired, Used, Revoked,
            Ignore(Expire),
            When(Approve).ThenAsync(c => c.RespondAsync(AlreadyDecided(c.Saga))),
            When(Deny).ThenAsync(c => c.RespondAsync(AlreadyDecided(c.Saga))),
            When(Claim).ThenAsync(c => c.RespondAsync(c.Saga.ToStatus())),
            When(Revoke).ThenAsync(c => c.RespondAsync(Revoker(c.Saga, c.Message, options.Value) ?? NotAGrant(c.Saga))));

        // A request for an approval that exists is a redelivery.
        DuringAny(
            Ignore(Requested));
    }

    public State Pending { get; private set; } = null!;
    public State Granted { get; private set; } = null!;
    public State Denied { get; private set; } = null!;
    public State Expired { get; private set; } = null!;
    public State Used { get; private set; } = null!;
    public State Revoked { get; private set; } = null!;

    public Event<ApprovalRequested> Requested { get; private set; } = null!;
    public Event<ApproveApproval> Approve { get; private set; } = null!;
    public Event<DenyApproval> Deny { get; private set; } = null!;
    public Event<ExpireApproval> Expire { get; private set; } = null!;
    public Event<ClaimApproval> Claim { get; private set; } = null!;
    public Event<RevokeGrant> Revoke { get; private set; } = null!;

    /// <summary>One per approval and request: a window's claim by another request is another message.</summary>
    public static Guid ClaimMessageId(ApprovalClaimed claimed) =>
        EventMessageId.For(nameof(ApprovalClaimed), $"{claimed.ApprovalId:N}/{claimed.RequestId:N}");

    /// <summary>Why the sender of <paramref name="revoke"/> may not revoke, checked before anything else is said about the approval.</summary>
    private static ApprovalRefused? Revoker(ApprovalState saga, RevokeGrant revoke, ApprovalOptions options) =>
        saga.RevocationRefusalFor(revoke.RevokedBy, options.AdminGroup);

    private static void Answerable<T>(IEventCorrelationConfigurator<ApprovalState, T> e, Func<ConsumeContext<T>, Guid> id)
        where T : class
    {
        e.CorrelateById(id);
        e.OnMissingInstance(m => m.ExecuteAsync(c => c.RespondAsync(new ApprovalRefused(id(c), ApprovalRefusals.NotFound,
            $"There is no approval {id(c)}."))));
    }

    /// <summary>Counts an approval's answer and how long it waited for it.</summary>
    private static void Answered(ApprovalState saga, System.Diagnostics.Metrics.Counter<long> counter, string outcome)
    {
        counter.Add(1, new KeyValuePair<string, object?>("connection", saga.Connection));
        if (saga.DecidedAt is { } decided)
            PortcullisMetrics.ApprovalWait.Record((decided - saga.RequestedAt).TotalMilliseconds,
                new KeyValuePair<string, object?>("outcome", outcome));
    }

    private static void Open(ApprovalState saga, ApprovalRequested message, ApprovalOptions options)
    {
        saga.RequestId = message.RequestId;
        saga.SessionId = message.SessionId;
        saga.Requester = message.Requester;
        saga.RequesterSubject = message.Requester.Subject;
        saga.Action = message.Action;
        saga.ActionHash = message.ActionHash;
        saga.BodyPreview = message.BodyPreview;
        saga.Connection = message.Action.Connection;
        saga.RuleId = message.RuleId;
        saga.Reason = message.Reason;
        saga.ApproverGroups = message.ApproverGroups.Count > 0 ? [.. message.ApproverGroups] : [.. options.DefaultApproverGroups];
        saga.RequestedAt = message.RequestedAt;
        saga.ExpiresAt = message.ExpiresAt;
    }

    private static void Decide(ApprovalState saga, Principal approver, string? comment, TimeProvider clock, TimeSpan? window)
    {
        var now = clock.GetUtcNow();
        saga.DecidedBy = approver.Subject;
        saga.Comment = string.IsNullOrWhiteSpace(comment) ? null : comment.Trim();
        saga.DecidedAt = now;
        saga.GrantedUntil = window is { } span ? now + span : null;
    }

    /// <summary>A requested window, capped at the configured maximum.</summary>
    private static TimeSpan? Window(TimeSpan? requested, ApprovalOptions options) =>
        requested is { } span && span > TimeSpan.Zero ? (span > options.MaxGrantWindow ? options.MaxGrantWindow : span) : null;

    private static ApprovalRefused AlreadyDecided(ApprovalState saga) => new(saga.CorrelationId, ApprovalRefusals.AlreadyDecided,
        saga.CurrentState == nameof(Expired)
            ? $"The approval expired at {saga.ExpiresAt:O} before anyone decided it."
            : $"The approval was already decided ({saga.CurrentState.ToLowerInvariant()}) by {saga.DecidedBy} at {saga.DecidedAt:O}.");

    private static ApprovalRefused NotAGrant(ApprovalState saga) => new(saga.CorrelationId, ApprovalRefusals.NotGranted,
        $"Approval {saga.CorrelationId} is not an open time-window grant (it is {saga.CurrentState.ToLowerInvariant()}).");
}
