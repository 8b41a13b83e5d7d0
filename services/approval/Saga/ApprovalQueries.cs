using Marten;
using Portcullis.Contracts;

namespace Portcullis.Approval.Saga;

/// <summary>
/// The read side of the saga: every query of its stored documents (schema "approval") outside the saga itself.
/// Decisions are the saga's alone; these answer who may see what, which grants are open and what is overdue.
/// </summary>
public sealed class ApprovalQueries(IQuerySession store)
{
    /// <summary>The most that one list or one sweep reads.</summary>
    public const int PageSize = 500;

    /// <summary>Open time-window grants for the same principal, connection and rule as <paramref name="request"/>, longest first.</summary>
    public async Task<IReadOnlyList<Guid>> OpenGrantsCovering(ApprovableRequest request, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var (subject, connection, rule) = (request.Requester.Subject, request.Action.Connection, request.RuleId);
        return await store.Query<ApprovalState>()
            .Where(a => a.CurrentState == ApprovalStates.Granted && a.GrantedUntil != null && a.GrantedUntil > now
                        && a.RequesterSubject == subject && a.Connection == connection && a.RuleId == rule)
            .OrderByDescending(a => a.GrantedUntil)
            .Select(a => a.CorrelationId)
            .ToListAsync(cancellationToken);
    }

    /// <summary>Pending approvals whose deadline passed (a page of them).</summary>
    public async Task<IReadOnlyList<Guid>> Overdue(DateTimeOffset now, CancellationToken cancellationToken) =>
        await store.Query<ApprovalState>()
            .Where(a => a.CurrentState == ApprovalStates.Pending && a.ExpiresAt <= now)
            .Select(a => a.CorrelationId)
            .Take(PageSize)
            .ToListAsync(cancellationToken);

    /// <summary>
    /// Approvals <paramref name="caller"/> may decide (their groups are among the approvers) or asked for, newest
    /// first, optionally in one state.
    /// </summary>
    public async Task<IReadOnlyList<ApprovalStatus>> Visible(Principal caller, string? state, CancellationToken cancellationToken)
    {
        // Visibility is part of the query: filtered after a page of the newest, an approval of the caller's
        // could fall behind other groups' newer ones and never be listed.
        var (subject, groups) = (caller.Subject, caller.Groups.ToArray());
        var query = store.Query<ApprovalState>().Where(a => a.RequesterSubject == subject || a.ApproverGroups.Any(g => groups.Contains(g)));
        if (!string.IsNullOrEmpty(state)) query = query.Where(a => a.CurrentState == state);
        var found = await query.OrderByDescending(a => a.RequestedAt).Take(PageSize).ToListAsync(cancellationToken);
        return [.. found.Select(a => a.ToStatus())];
    }

    /// <summary>One approval, when it exists and <paramref name="caller"/> may see it.</summary>
    public async Task<ApprovalStatus?> VisibleOne(Guid id, Principal caller, CancellationToken cancellationToken)
    {
        var approval = await store.LoadAsync<ApprovalState>(id, cancellationToken);
        return approval is not null && (approval.RequesterSubject == caller.Subject
                                        || caller.Groups.Any(g => approval.ApproverGroups.Contains(g)))
            ? approval.ToStatus()
            : null;
    }
}
