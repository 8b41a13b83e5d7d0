using Marten;
using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Audit.Projections;

namespace Portcullis.Audit.Apis;

/// <summary>The projections for auditors: sessions by identity, connection, outcome and time; a session's timeline; activity per identity; decision statistics.</summary>
public static class SearchApi
{
    public static IEndpointRouteBuilder MapSearchApi(this IEndpointRouteBuilder app)
    {
        var auditors = app.MapGroup("").RequireAuthorization(Extensions.AuditorPolicy);
        auditors.MapGet("/sessions", Search).WithTags("Sessions").WithName("SearchSessions")
            .WithSummary("Sessions matching every filter given, newest activity first, without their steps")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        auditors.MapGet("/sessions/{id}/timeline", Timeline).WithTags("Sessions").WithName("GetSessionTimeline")
            .WithSummary("A session's timeline (the projection)").ProducesProblem(StatusCodes.Status404NotFound);
        auditors.MapGet("/identities/{subject}", Identity).WithTags("Identities").WithName("GetIdentityActivity")
            .WithSummary("What one identity did, across sessions").ProducesProblem(StatusCodes.Status404NotFound);
        auditors.MapGet("/statistics", Statistics).WithTags("Statistics").WithName("GetDecisionStatistics")
            .WithSummary("Decisions per day, connection and rule");
        return app;
    }

    /// <summary>Sessions, newest activity first, matching every filter given; without their steps.</summary>
    public static async Task<Results<Ok<IReadOnlyList<SessionSummary>>, ProblemHttpResult>> Search(IQuerySession session,
        string? subject, string? connection, string? outcome, DateTimeOffset? from, DateTimeOffset? to, int? limit,
        CancellationToken cancellationToken)
    {
        if (limit is < 1 or > 1000)
            return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: "limit is between 1 and 1000 (default 100).");
        var query = session.Query<SessionTimeline>().AsQueryable();
        if (!string.IsNullOrEmpty(subject)) query = query.Where(t => t.Subject == subject);
        if (!string.IsNullOrEmpty(connection)) query = query.Where(t => t.Connections.Contains(connection));
        if (!string.IsNullOrEmpty(outcome)) query = query.Where(t => t.Outcomes.Contains(outcome));
        if (from is { } start) query = query.Where(t => t.LastAt >= start);
        if (to is { } end) query = query.Where(t => t.FirstAt <= end);
        var found = await query.OrderByDescending(t => t.LastAt).Take(limit ?? 100).ToListAsync(cancellationToken);
        return TypedResults.Ok<IReadOnlyList<SessionSummary>>([.. found.Select(SessionSummary.From)]);
    }

    public static async Task<Results<Ok<SessionTimeline>, ProblemHttpResult>> Timeline(string id, IQuerySession session,
        CancellationToken cancellationToken) =>
        await session.LoadAsync<SessionTimeline>(id, cancellationToken) is { } timeline
            ? TypedResults.Ok(timeline)
            : TypedResults.Problem(statusCode: 404, title: "Session not found", detail: $"No events are recorded for session '{id}'.");

    public static async Task<Results<Ok<IdentityActivity>, ProblemHttpResult>> Identity(string subject, IQuerySession session,
        CancellationToken cancellationToken) =>
        await session.LoadAsync<IdentityActivity>(subject, cancellationToken) is { } activity
            ? TypedResults.Ok(activity)
            : TypedResults.Problem(statusCode: 404, title: "Identity not found",
                detail: $"Nothing is recorded for '{subject}' (the activity projection may trail the record by a moment).");

    /// <summary>Decision statistics for days between <paramref name="from"/> and <paramref name="to"/> (dates, inclusive).</summary>
    public static async Task<Ok<IReadOnlyList<DecisionStatistics>>> Statistics(IQuerySession session, DateOnly? from, DateOnly? to,
        string? connection, CancellationToken cancellationToken)
    {
        var query = session.Query<DecisionStatistics>().AsQueryable();
        if (from is { } start) query = query.Where(s => s.Day >= start);
        if (to is { } end) query = query.Where(s => s.Day <= end);
        if (!string.IsNullOrEmpty(connection)) query = query.Where(s => s.Connection == connection);
        var found = await query.OrderBy(s => s.Day).ThenBy(s => s.Connection).ThenBy(s => s.Rule).Take(5000).ToListAsync(cancellationToken);
        return TypedResults.Ok<IReadOnlyList<DecisionStatistics>>(found);
    }
}

public sealed record SessionSummary(string SessionId, string? Subject, DateTimeOffset? FirstAt, DateTimeOffset? LastAt, long Events,
    int Requests, IReadOnlyList<string> Connections, IReadOnlyList<string> Outcomes, int Denied, int Approvals, int MaskedValues)
{
    public static SessionSummary From(SessionTimeline t) => new(t.Id, t.Subject, t.FirstAt, t.LastAt, t.Events, t.Steps.Count,
        t.Connections, t.Outcomes, t.Denied, t.Approvals, t.MaskedValues);
}
