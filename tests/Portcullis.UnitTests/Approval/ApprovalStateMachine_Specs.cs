using Portcullis.Approval.Saga;
using Portcullis.Contracts;
using Portcullis.Defaults.Bus;
using static Portcullis.UnitTests.Approval.ApprovalSagaHarness;

namespace Portcullis.UnitTests.Approval;

/// <summary>
/// Every transition of the approval saga, on MassTransit's test harness: what each command answers, which
/// state the approval is left in, and which events the audit receives (one per message id). Races are sent
/// together and must come out decided once, whichever runs first.
/// </summary>
public sealed class ApprovalStateMachine_Specs : IAsyncLifetime
{
    private ApprovalSagaHarness _saga = null!;

    public async Task InitializeAsync() => _saga = await StartAsync();

    public async Task DisposeAsync() => await _saga.DisposeAsync();

    private static ApprovalStatus Status(object answer, string state)
    {
        var status = Assert.IsType<ApprovalStatus>(answer);
        Assert.Equal(state, status.State);
        return status;
    }

    private static ApprovalRefused Refused(object answer, string code)
    {
        var refused = Assert.IsType<ApprovalRefused>(answer);
        Assert.Equal(code, refused.Code);
        return refused;
    }

    // Requested

    [Fact]
    public async Task A_request_opens_a_pending_approval_for_the_approver_groups_it_names()
    {
        var id = await _saga.OpenAsync(approverGroups: ["dba", "oncall"]);

        var approval = _saga.Saga.Sagas.Contains(id)!;
        Assert.Equal(ApprovalStates.Pending, approval.CurrentState);
        Assert.Equal(["dba", "oncall"], approval.ApproverGroups);
        Assert.Equal(Agent.Subject, approval.RequesterSubject);
        Assert.Equal(("billing", Rule, ActionHash), (approval.Connection, approval.RuleId, approval.ActionHash));
    }

    [Fact]
    public async Task A_request_that_names_no_approver_group_goes_to_the_default_approvers()
    {
        var id = await _saga.OpenAsync(approverGroups: []);

        Assert.Equal(["approvers"], _saga.Saga.Sagas.Contains(id)!.ApproverGroups);
    }

    [Fact]
    public async Task A_redelivered_request_leaves_the_pending_approval_as_it_was()
    {
        var id = await _saga.OpenAsync();
        var opened = _saga.Saga.Sagas.Contains(id)!.RequestedAt;
        _saga.Clock.Advance(TimeSpan.FromMinutes(1));

        await _saga.DeliverAsync(_saga.Requested(id, approverGroups: ["sales"]));

        var approval = _saga.Saga.Sagas.Contains(id)!;
        Assert.Equal(["dba"], approval.ApproverGroups);
        Assert.Equal(opened, approval.RequestedAt);
    }

    [Fact]
    public async Task A_request_redelivered_after_the_grant_does_not_reopen_the_approval()
    {
        var id = await _saga.GrantedAsync();

        await _saga.DeliverAsync(_saga.Requested(id));
        var claimed = Status(await _saga.ClaimAsync(id), ApprovalStates.Used);

        Assert.Equal(Alice.Subject, claimed.DecidedBy);
    }

    // Approve

    [Fact]
    public async Task An_approver_grants_a_pending_approval_and_the_audit_gets_one_ApprovalGranted()
    {
        var id = await _saga.OpenAsync();

        var granted = Status(await _saga.ApproveAsync(id, comment: "  month-end run  "), ApprovalStates.Granted);

        Assert.Equal((Alice.Subject, "month-end run", (DateTimeOffset?)null), (granted.DecidedBy, granted.Comment, granted.GrantedUntil));
        Assert.Equal(_saga.Clock.GetUtcNow(), granted.DecidedAt);
        var (messageId, message) = Assert.Single(_saga.Published<ApprovalGranted>());
        Assert.Equal(EventMessageId.For<ApprovalGranted>(id), messageId);
        Assert.Equal((id, _saga.RequestOf(id), Session, "billing", Rule),
            (message.ApprovalId, message.RequestId, message.SessionId, message.Connection, message.RuleId));
    }

    [Fact]
    public async Task A_grant_for_a_time_window_lasts_that_long_from_the_decision()
    {
        var id = await _saga.OpenAsync();

        var granted = Status(await _saga.ApproveAsync(id, window: TimeSpan.FromMinutes(30)), ApprovalStates.Granted);

        Assert.Equal(_saga.Clock.GetUtcNow() + TimeSpan.FromMinutes(30), granted.GrantedUntil);
        Assert.Equal(granted.GrantedUntil, Assert.Single(_saga.Published<ApprovalGranted>()).Message.GrantedUntil);
    }

    [Fact]
    public async Task A_window_longer_than_the_maximum_is_cut_to_the_maximum()
    {
        var id = await _saga.OpenAsync();

        var granted = Status(await _saga.ApproveAsync(id, window: TimeSpan.FromDays(3)), ApprovalStates.Granted);

        Assert.Equal(_saga.Clock.GetUtcNow() + TimeSpan.FromHours(8), granted.GrantedUntil);
    }

    [Fact]
    public async Task A_window_of_zero_is_a_single_approval()
    {
        var id = await _saga.OpenAsync();

        var granted = Status(await _saga.ApproveAsync(id, window: TimeSpan.Zero), ApprovalStates.Granted);

        Assert.Null(granted.GrantedUntil);
    }

    [Fact]
    public async Task The_requester_cannot_approve_their_own_action_even_as_a_member_of_the_approver_group()
    {
        var id = await _saga.OpenAsync();

        Refused(await _saga.ApproveAsync(id, AgentApprover), ApprovalRefusals.SelfApproval);

        Assert.Equal(ApprovalStates.Pending, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalGranted>());
    }

    [Fact]
    public async Task Someone_outside_the_approver_groups_cannot_approve()
    {
        var id = await _saga.OpenAsync();

        var refused = Refused(await _saga.ApproveAsync(id, Mallory), ApprovalRefusals.NotApprover);

        Assert.Contains("dba", refused.Detail);
        Assert.Equal(ApprovalStates.Pending, _saga.StateOf(id));
    }

    [Fact]
    public async Task Approving_an_approval_that_does_not_exist_is_not_found()
    {
        var id = Guid.NewGuid();

        Refused(await _saga.ApproveAsync(id), ApprovalRefusals.NotFound);

        Assert.Equal("(none)", _saga.StateOf(id));
    }

    [Fact]
    public async Task A_second_approval_is_refused_as_already_decided_and_the_audit_still_gets_one_grant()
    {
        var id = await _saga.GrantedAsync();

        var refused = Refused(await _saga.ApproveAsync(id, Bob, window: TimeSpan.FromHours(1)), ApprovalRefusals.AlreadyDecided);

        Assert.Contains("alice", refused.Detail);
        Assert.Null(_saga.Saga.Sagas.Contains(id)!.GrantedUntil);
        Assert.Single(_saga.Published<ApprovalGranted>());
    }

    [Fact]
    public async Task Two_approvers_approving_at_once_decide_once()
    {
        var id = await _saga.OpenAsync();

        var answers = await Task.WhenAll(_saga.ApproveAsync(id, Alice), _saga.ApproveAsync(id, Bob));

        var granted = Assert.Single(answers.OfType<ApprovalStatus>());
        Assert.Equal(ApprovalRefusals.AlreadyDecided, Assert.Single(answers.OfType<ApprovalRefused>()).Code);
        Assert.Equal(granted.DecidedBy, Assert.Single(_saga.Published<ApprovalGranted>()).Message.Approver);
    }

    // Deny

    [Fact]
    public async Task An_approver_denies_and_the_audit_gets_one_ApprovalDenied_with_the_comment()
    {
        var id = await _saga.OpenAsync();

        var denied = Status(await _saga.DenyAsync(id, Bob, "not during the audit"), ApprovalStates.Denied);

        Assert.Equal((Bob.Subject, "not during the audit"), (denied.DecidedBy, denied.Comment));
        var (messageId, message) = Assert.Single(_saga.Published<ApprovalDenied>());
        Assert.Equal(EventMessageId.For<ApprovalDenied>(id), messageId);
        Assert.Equal(("bob", "not during the audit", _saga.RequestOf(id)), (message.Approver, message.Comment, message.RequestId));
        Assert.Empty(_saga.Published<ApprovalGranted>());
    }

    [Fact]
    public async Task A_denial_after_the_grant_is_refused_and_the_grant_stands()
    {
        var id = await _saga.GrantedAsync();

        Refused(await _saga.DenyAsync(id, Bob), ApprovalRefusals.AlreadyDecided);

        Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalDenied>());
        Status(await _saga.ClaimAsync(id), ApprovalStates.Used);
    }

    [Fact]
    public async Task A_grant_after_the_denial_is_refused_and_the_request_stays_denied()
    {
        var id = await _saga.OpenAsync();
        Status(await _saga.DenyAsync(id, Bob), ApprovalStates.Denied);

        var refused = Refused(await _saga.ApproveAsync(id, Alice), ApprovalRefusals.AlreadyDecided);

        Assert.Contains("denied", refused.Detail);
        Assert.Empty(_saga.Published<ApprovalGranted>());
        Status(await _saga.ClaimAsync(id), ApprovalStates.Denied);
    }

    [Fact]
    public async Task The_requester_cannot_deny_their_own_action_and_outsiders_cannot_deny_at_all()
    {
        var id = await _saga.OpenAsync();

        Refused(await _saga.DenyAsync(id, AgentApprover), ApprovalRefusals.SelfApproval);
        Refused(await _saga.DenyAsync(id, Mallory), ApprovalRefusals.NotApprover);

        Assert.Equal(ApprovalStates.Pending, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalDenied>());
    }

    [Fact]
    public async Task Denying_an_approval_that_does_not_exist_is_not_found()
    {
        Refused(await _saga.DenyAsync(Guid.NewGuid()), ApprovalRefusals.NotFound);
    }

    [Fact]
    public async Task An_approval_and_a_denial_sent_at_once_decide_once()
    {
        var id = await _saga.OpenAsync();

        var answers = await Task.WhenAll(_saga.ApproveAsync(id, Alice), _saga.DenyAsync(id, Bob));

        var decided = Assert.Single(answers.OfType<ApprovalStatus>());
        Assert.Equal(ApprovalRefusals.AlreadyDecided, Assert.Single(answers.OfType<ApprovalRefused>()).Code);
        Assert.Equal(decided.State, _saga.StateOf(id));
        Assert.Equal(1, _saga.Published<ApprovalGranted>().Count + _saga.Published<ApprovalDenied>().Count);
    }

    // Expire

    [Fact]
    public async Task Expiry_before_the_deadline_changes_nothing()
    {
        var id = await _saga.OpenAsync(expiresIn: TimeSpan.FromMinutes(15));
        _saga.Clock.Advance(TimeSpan.FromMinutes(14));

        await _saga.ExpireAsync(id);

        Assert.Equal(ApprovalStates.Pending, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalExpired>());
        Status(await _saga.ApproveAsync(id), ApprovalStates.Granted);
    }

    [Fact]
    public async Task Expiry_past_the_deadline_expires_the_approval_and_the_audit_gets_one_ApprovalExpired()
    {
        var id = await _saga.OpenAsync(expiresIn: TimeSpan.FromMinutes(15));
        _saga.Clock.Advance(TimeSpan.FromMinutes(16));

        await _saga.ExpireAsync(id);
        await _saga.ExpireAsync(id);

        Assert.Equal(ApprovalStates.Expired, _saga.StateOf(id));
        var (messageId, message) = Assert.Single(_saga.Published<ApprovalExpired>());
        Assert.Equal(EventMessageId.For<ApprovalExpired>(id), messageId);
        Assert.Equal((_saga.RequestOf(id), _saga.Clock.GetUtcNow()), (message.RequestId, message.ExpiredAt));
    }

    [Fact]
    public async Task Approving_an_expired_approval_is_refused_saying_it_expired()
    {
        var id = await _saga.OpenAsync(expiresIn: TimeSpan.FromMinutes(15));
        _saga.Clock.Advance(TimeSpan.FromMinutes(15));
        await _saga.ExpireAsync(id);

        var refused = Refused(await _saga.ApproveAsync(id), ApprovalRefusals.AlreadyDecided);

        Assert.Contains("expired", refused.Detail);
        Assert.Empty(_saga.Published<ApprovalGranted>());
        Status(await _saga.ClaimAsync(id), ApprovalStates.Expired);
    }

    [Fact]
    public async Task Expiry_after_the_grant_is_ignored()
    {
        var id = await _saga.OpenAsync(expiresIn: TimeSpan.FromMinutes(15));
        Status(await _saga.ApproveAsync(id), ApprovalStates.Granted);
        _saga.Clock.Advance(TimeSpan.FromHours(1));

        await _saga.ExpireAsync(id);

        Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalExpired>());
    }

    [Fact]
    public async Task A_grant_racing_the_expiry_past_the_deadline_leaves_one_decision()
    {
        var id = await _saga.OpenAsync(expiresIn: TimeSpan.FromMinutes(15));
        _saga.Clock.Advance(TimeSpan.FromMinutes(15));

        var approving = _saga.ApproveAsync(id);
        await _saga.ExpireAsync(id);
        var answer = await approving;

        // Whichever ran first decided: the grant the approver was told of, or the expiry the approver was refused with.
        if (answer is ApprovalStatus granted)
        {
            Assert.Equal(ApprovalStates.Granted, granted.State);
            Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
            Assert.Empty(_saga.Published<ApprovalExpired>());
            Assert.Single(_saga.Published<ApprovalGranted>());
        }
        else
        {
            Assert.Contains("expired", Refused(answer, ApprovalRefusals.AlreadyDecided).Detail);
            Assert.Equal(ApprovalStates.Expired, _saga.StateOf(id));
            Assert.Empty(_saga.Published<ApprovalGranted>());
            Assert.Single(_saga.Published<ApprovalExpired>());
        }
    }

    [Fact]
    public async Task Expiry_of_an_approval_that_does_not_exist_is_dropped_without_creating_one()
    {
        var id = Guid.NewGuid();

        await _saga.ExpireAsync(id);

        Assert.Equal("(none)", _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalExpired>());
    }

    // Claim of a single approval

    [Fact]
    public async Task A_single_approval_is_used_by_the_request_that_claims_it_and_the_audit_gets_one_ApprovalClaimed()
    {
        var id = await _saga.GrantedAsync();

        var used = Status(await _saga.ClaimAsync(id), ApprovalStates.Used);

        Assert.Equal(_saga.RequestOf(id), used.UsedBy);
        var (messageId, claimed) = Assert.Single(_saga.Published<ApprovalClaimed>());
        Assert.Equal(ApprovalStateMachine.ClaimMessageId(claimed), messageId);
        Assert.Equal((id, _saga.RequestOf(id), Alice.Subject, (DateTimeOffset?)null),
            (claimed.ApprovalId, claimed.RequestId, claimed.GrantedBy, claimed.GrantedUntil));
    }

    [Fact]
    public async Task A_used_approval_claimed_by_another_request_answers_used_by_the_first()
    {
        var id = await _saga.GrantedAsync();
        Status(await _saga.ClaimAsync(id), ApprovalStates.Used);

        var again = Status(await _saga.ClaimAsync(id, Request(Guid.NewGuid())), ApprovalStates.Used);

        Assert.Equal(_saga.RequestOf(id), again.UsedBy);
        Assert.Single(_saga.Published<ApprovalClaimed>());
    }

    [Fact]
    public async Task Two_requests_claiming_a_single_approval_at_once_use_it_once()
    {
        var id = await _saga.GrantedAsync();
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());

        var answers = await Task.WhenAll(_saga.ClaimAsync(id, Request(first)), _saga.ClaimAsync(id, Request(second)));

        var usedBy = Assert.Single(answers.Select(a => Status(a, ApprovalStates.Used).UsedBy).Distinct());
        Assert.Contains(usedBy!.Value, new[] { first, second });
        Assert.Equal(usedBy, Assert.Single(_saga.Published<ApprovalClaimed>()).Message.RequestId);
    }

    [Fact]
    public async Task A_claim_redelivered_after_use_answers_the_same_and_the_audit_still_gets_one_ApprovalClaimed()
    {
        var id = await _saga.GrantedAsync();

        var first = Status(await _saga.ClaimAsync(id), ApprovalStates.Used);
        var again = Status(await _saga.ClaimAsync(id), ApprovalStates.Used);

        Assert.Equal(first.UsedBy, again.UsedBy);
        Assert.Single(_saga.Published<ApprovalClaimed>());
    }

    [Fact]
    public async Task A_claim_for_another_action_is_refused_and_the_approved_action_can_still_run()
    {
        var id = await _saga.GrantedAsync();

        Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), actionHash: "sha256:other")), ApprovalRefusals.Mismatch);
        Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), rule: "other-rule")), ApprovalRefusals.Mismatch);

        Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalClaimed>());
        Status(await _saga.ClaimAsync(id), ApprovalStates.Used);
    }

    [Fact]
    public async Task A_claim_by_another_principal_is_refused()
    {
        var id = await _saga.GrantedAsync();

        var refused = Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), requester: Mallory)), ApprovalRefusals.Mismatch);

        Assert.Contains("another principal", refused.Detail);
        Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
    }

    [Fact]
    public async Task An_approval_without_an_action_hash_covers_no_action()
    {
        var id = await _saga.OpenAsync(actionHash: null);
        Status(await _saga.ApproveAsync(id), ApprovalStates.Granted);

        Refused(await _saga.ClaimAsync(id, Request(_saga.RequestOf(id), actionHash: null)), ApprovalRefusals.Mismatch);

        Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
    }

    [Fact]
    public async Task A_claim_while_pending_answers_pending_for_the_same_action_and_is_refused_for_another()
    {
        var id = await _saga.OpenAsync();

        Status(await _saga.ClaimAsync(id), ApprovalStates.Pending);
        Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), actionHash: "sha256:other")), ApprovalRefusals.Mismatch);

        Assert.Equal(ApprovalStates.Pending, _saga.StateOf(id));
        Assert.Empty(_saga.Published<ApprovalClaimed>());
    }

    [Fact]
    public async Task A_claim_of_a_denied_approval_answers_denied_and_runs_nothing()
    {
        var id = await _saga.OpenAsync();
        Status(await _saga.DenyAsync(id), ApprovalStates.Denied);

        var denied = Status(await _saga.ClaimAsync(id), ApprovalStates.Denied);

        Assert.Null(denied.UsedBy);
        Assert.Empty(_saga.Published<ApprovalClaimed>());
    }

    [Fact]
    public async Task A_claim_of_an_approval_that_does_not_exist_is_not_found()
    {
        Refused(await _saga.ClaimAsync(Guid.NewGuid(), Request(Guid.NewGuid())), ApprovalRefusals.NotFound);
    }

    // Claims under a time-window grant

    [Fact]
    public async Task Requests_claiming_a_window_grant_run_under_it_and_the_audit_gets_one_ApprovalClaimed_each()
    {
        var id = await _saga.OpenAsync();
        var window = Status(await _saga.ApproveAsync(id, window: TimeSpan.FromHours(1)), ApprovalStates.Granted);
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());

        Status(await _saga.ClaimAsync(id, Request(first)), ApprovalStates.Granted);
        Status(await _saga.ClaimAsync(id, Request(second, action: Invoices with { Sql = "SELECT count(*) FROM invoices" },
            actionHash: "sha256:count")), ApprovalStates.Granted);

        var claims = _saga.Published<ApprovalClaimed>();
        Assert.Equal(new[] { first, second }.Order(), claims.Select(c => c.Message.RequestId).Order());
        Assert.All(claims, c => Assert.Equal(window.GrantedUntil, c.Message.GrantedUntil));
        Assert.Equal(2, claims.Select(c => c.MessageId).Distinct().Count());
        Assert.Equal(ApprovalStates.Granted, _saga.StateOf(id));
    }

    [Fact]
    public async Task A_claim_under_a_window_redelivered_publishes_the_same_message_id_so_the_audit_keeps_one()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));
        var request = Request(Guid.NewGuid());

        Status(await _saga.ClaimAsync(id, request), ApprovalStates.Granted);
        _saga.Clock.Advance(TimeSpan.FromSeconds(5));
        Status(await _saga.ClaimAsync(id, request), ApprovalStates.Granted);

        Assert.Equal(2, _saga.PublishCount<ApprovalClaimed>());
        var (messageId, _) = Assert.Single(_saga.Published<ApprovalClaimed>());
        Assert.Equal(EventMessageId.For(nameof(ApprovalClaimed), $"{id:N}/{request.RequestId:N}"), messageId);
    }

    [Fact]
    public async Task Two_requests_claiming_a_window_at_once_both_run_under_it()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));

        var answers = await Task.WhenAll(_saga.ClaimAsync(id, Request(Guid.NewGuid())), _saga.ClaimAsync(id, Request(Guid.NewGuid())));

        Assert.All(answers, a => Status(a, ApprovalStates.Granted));
        Assert.Equal(2, _saga.Published<ApprovalClaimed>().Count);
    }

    [Fact]
    public async Task A_window_covers_the_same_connection_and_rule_only()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));

        Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), action: Invoices with { Connection = "hr" })), ApprovalRefusals.Mismatch);
        Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), rule: "other-rule")), ApprovalRefusals.Mismatch);
        Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid(), requester: Mallory)), ApprovalRefusals.Mismatch);

        Assert.Empty(_saga.Published<ApprovalClaimed>());
    }

    [Fact]
    public async Task A_window_past_its_end_refuses_claims_and_the_approval_deadline_passing_changes_nothing()
    {
        var id = await _saga.OpenAsync(expiresIn: TimeSpan.FromMinutes(15));
        Status(await _saga.ApproveAsync(id, window: TimeSpan.FromHours(1)), ApprovalStates.Granted);

        _saga.Clock.Advance(TimeSpan.FromMinutes(30));
        await _saga.ExpireAsync(id);
        Status(await _saga.ClaimAsync(id, Request(Guid.NewGuid())), ApprovalStates.Granted);

        _saga.Clock.Advance(TimeSpan.FromMinutes(31));
        var refused = Refused(await _saga.ClaimAsync(id, Request(Guid.NewGuid())), ApprovalRefusals.NotGranted);

        Assert.Contains("ended", refused.Detail);
        Assert.Empty(_saga.Published<ApprovalExpired>());
        Assert.Single(_saga.Published<ApprovalClaimed>());
    }

    // Revoke

    [Fact]
    public async Task The_approver_revokes_a_window_and_later_claims_are_told_it_was_revoked()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));

        Status(await _saga.RevokeAsync(id, Alice, "done for today"), ApprovalStates.Revoked);

        var (messageId, revoked) = Assert.Single(_saga.Published<GrantRevoked>());
        Assert.Equal(EventMessageId.For<GrantRevoked>(id), messageId);
        Assert.Equal(("alice", "done for today", _saga.RequestOf(id)), (revoked.RevokedBy, revoked.Comment, revoked.RequestId));
        Status(await _saga.ClaimAsync(id, Request(Guid.NewGuid())), ApprovalStates.Revoked);
        Assert.Empty(_saga.Published<ApprovalClaimed>());
    }

    [Fact]
    public async Task Another_member_of_the_approver_groups_and_an_admin_may_revoke()
    {
        var byMember = await _saga.OpenAsync();
        var byAdmin = await _saga.OpenAsync();
        Status(await _saga.ApproveAsync(byMember, Alice, window: TimeSpan.FromHours(1)), ApprovalStates.Granted);
        Status(await _saga.ApproveAsync(byAdmin, Alice, window: TimeSpan.FromHours(1)), ApprovalStates.Granted);

        Status(await _saga.RevokeAsync(byMember, Bob), ApprovalStates.Revoked);
        Status(await _saga.RevokeAsync(byAdmin, Admin), ApprovalStates.Revoked);

        Assert.Equal(2, _saga.Published<GrantRevoked>().Count);
    }

    [Fact]
    public async Task The_holder_and_outsiders_cannot_revoke_and_the_window_still_covers_its_holder()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));

        Assert.Contains("holder", Refused(await _saga.RevokeAsync(id, AgentApprover), ApprovalRefusals.NotApprover).Detail);
        Refused(await _saga.RevokeAsync(id, Mallory), ApprovalRefusals.NotApprover);

        Assert.Empty(_saga.Published<GrantRevoked>());
        Status(await _saga.ClaimAsync(id, Request(Guid.NewGuid())), ApprovalStates.Granted);
    }

    [Fact]
    public async Task Revoking_a_single_approval_or_a_pending_one_is_refused_as_not_a_grant()
    {
        var single = await _saga.OpenAsync();
        var pending = await _saga.OpenAsync();
        Status(await _saga.ApproveAsync(single), ApprovalStates.Granted);

        Refused(await _saga.RevokeAsync(single, Alice), ApprovalRefusals.NotGranted);
        Refused(await _saga.RevokeAsync(pending, Alice), ApprovalRefusals.NotGranted);

        Assert.Equal((ApprovalStates.Granted, ApprovalStates.Pending), (_saga.StateOf(single), _saga.StateOf(pending)));
        Assert.Empty(_saga.Published<GrantRevoked>());
    }

    [Fact]
    public async Task Who_may_revoke_is_checked_before_anything_is_said_about_the_approval()
    {
        var pending = await _saga.OpenAsync();
        var denied = await _saga.OpenAsync();
        Status(await _saga.DenyAsync(denied), ApprovalStates.Denied);

        Refused(await _saga.RevokeAsync(pending, Mallory), ApprovalRefusals.NotApprover);
        Refused(await _saga.RevokeAsync(denied, Mallory), ApprovalRefusals.NotApprover);
    }

    [Fact]
    public async Task A_second_revocation_is_refused_and_the_audit_gets_one_GrantRevoked()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));
        Status(await _saga.RevokeAsync(id, Alice), ApprovalStates.Revoked);

        Refused(await _saga.RevokeAsync(id, Admin), ApprovalRefusals.NotGranted);
        Refused(await _saga.ApproveAsync(id, Bob), ApprovalRefusals.AlreadyDecided);

        Assert.Single(_saga.Published<GrantRevoked>());
    }

    [Fact]
    public async Task Revoking_an_approval_that_does_not_exist_is_not_found()
    {
        Refused(await _saga.RevokeAsync(Guid.NewGuid(), Admin), ApprovalRefusals.NotFound);
    }

    [Fact]
    public async Task A_claim_racing_the_revocation_runs_only_if_it_came_first()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));
        var request = Request(Guid.NewGuid());

        var answers = await Task.WhenAll(_saga.ClaimAsync(id, request), _saga.RevokeAsync(id, Alice));

        Status(answers[1], ApprovalStates.Revoked);
        var claim = Assert.IsType<ApprovalStatus>(answers[0]);
        Assert.Contains(claim.State, new[] { ApprovalStates.Granted, ApprovalStates.Revoked });
        Assert.Equal(claim.State == ApprovalStates.Granted ? 1 : 0, _saga.Published<ApprovalClaimed>().Count);
        Assert.Single(_saga.Published<GrantRevoked>());
    }

    // Redelivery after a crash

    [Fact]
    public async Task A_decision_taken_again_after_its_state_was_lost_publishes_the_same_message_ids()
    {
        var id = Guid.NewGuid();
        var requestId = Guid.NewGuid();

        async Task<(Guid Granted, Guid Claimed)> Decide()
        {
            await using var saga = await StartAsync();
            await saga.Harness.Bus.Publish(saga.Requested(id) with { RequestId = requestId });
            await saga.Saga.Exists(id, m => m.Pending);
            Status(await saga.ApproveAsync(id, window: TimeSpan.FromHours(1)), ApprovalStates.Granted);
            Status(await saga.ClaimAsync(id, Request(requestId)), ApprovalStates.Granted);
            return (Assert.Single(saga.Published<ApprovalGranted>()).MessageId, Assert.Single(saga.Published<ApprovalClaimed>()).MessageId);
        }

        var before = await Decide();
        var after = await Decide();

        Assert.Equal(before, after);
        Assert.Equal(EventMessageId.For<ApprovalGranted>(id), after.Granted);
    }

    [Fact]
    public async Task Every_decision_event_of_one_approval_has_its_own_message_id()
    {
        var id = await _saga.GrantedAsync(window: TimeSpan.FromHours(1));
        Status(await _saga.ClaimAsync(id, Request(_saga.RequestOf(id))), ApprovalStates.Granted);
        Status(await _saga.RevokeAsync(id, Admin), ApprovalStates.Revoked);

        Guid[] ids = [_saga.Published<ApprovalGranted>().Single().MessageId, _saga.Published<ApprovalClaimed>().Single().MessageId,
            _saga.Published<GrantRevoked>().Single().MessageId, EventMessageId.For<ApprovalRequested>(id)];

        Assert.Equal(ids.Length, ids.Distinct().Count());
    }
}
