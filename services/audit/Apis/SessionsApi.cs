using Marten;
using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;

namespace Portcullis.Audit.Apis;

public static class SessionsApi
{
    public static IEndpointRouteBuilder MapSessionsApi(this IEndpointRouteBuilder app)
    {
        var sessions = app.MapGroup("/sessions").RequireAuthorization(Extensions.AuditorPolicy).WithTags("Sessions");
        sessions.MapGet("/{id}", GetTimeline).WithName("GetSessionRecord")
            .WithSummary("A session's events in the order they were recorded, with their hashes")
            .ProducesProblem(StatusCodes.Status404NotFound);
        sessions.MapGet("/{id}/verify", Verify).WithName("VerifySession")
            .WithSummary("Recompute the session's hash chain and check it for loss; every finding listed")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    /// <summary>Recomputes the session's hash chain and checks it for loss; lists every finding (docs/audit-record-integrity.md).</summary>
    public static async Task<Results<Ok<VerifyResult>, ProblemHttpResult>> Verify(string id, ChainVerifier verifier,
        CancellationToken cancellationToken) =>
        await verifier.VerifyAsync(id, cancellationToken) is { } result
            ? TypedResults.Ok(result)
            : TypedResults.Problem(statusCode: 404, title: "Session not found", detail: $"No events are recorded for session '{id}'.");

    /// <summary>A session's events in the order they were recorded, with who acted.</summary>
    public static async Task<Results<Ok<SessionRecord>, ProblemHttpResult>> GetTimeline(
        string id, IQuerySession session, CancellationToken cancellationToken)
    {
        var events = await session.Events.FetchStreamAsync(id, token: cancellationToken);
        if (events.Count == 0)
            return TypedResults.Problem(statusCode: 404, title: "Session not found",
                detail: $"No events are recorded for session '{id}'.");

        var principal = events.Select(e => e.Data).OfType<RequestReceived>().FirstOrDefault()?.Principal;
        return TypedResults.Ok(new SessionRecord(
            id,
            principal?.Subject,
            principal?.Groups ?? [],
            [.. events.Select(e => new TimelineEntry(
                e.Version, e.Sequence, e.EventType.Name, ((IRequestMessage)e.Data).RequestId, e.Timestamp,
                e.Headers?.GetValueOrDefault(AuditChain.HashHeader)?.ToString(), e.Data))]));
    }
}

public sealed record SessionRecord(string SessionId, string? Subject, IReadOnlyList<string> Groups, IReadOnlyList<TimelineEntry> Events);

public sealed record TimelineEntry(long Version, long Sequence, string Type, Guid RequestId, DateTimeOffset RecordedAt,
    string? Hash, object Data);
