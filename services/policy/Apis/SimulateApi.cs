using System.Text.Json;
using Portcullis.Policy.Simulation;
using Portcullis.Policy.Versions;

namespace Portcullis.Policy.Apis;

/// <summary>A candidate policy tried on recorded actions before it is published.</summary>
public static class SimulateApi
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>By default, a progress line every this many recorded actions read, so a long range shows it is moving.</summary>
    public const int ProgressEvery = 500;

    /// <summary>The most a request may set <c>progressEvery</c> to (and the least is 1).</summary>
    public const int MaxProgressEvery = 1_000_000;

    public static IEndpointRouteBuilder MapSimulateApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/policy/simulate", Simulate).RequireAuthorization(Extensions.AdminPolicy)
            .WithTags("Policy").WithName("SimulatePolicy").WithSummary("Try a candidate policy on the recorded actions of a time range")
            .WithDescription("JSON Lines, streamed: a change line per action whose effect would change, a progress line every " +
                             $"progressEvery recorded actions read ({ProgressEvery} unless given; filtered-out ones count), and a " +
                             "summary line last (a stream without it was cut short). The token must also be an auditor's: the " +
                             "record is read from the audit service with it.")
            .Produces(StatusCodes.Status200OK, contentType: "application/x-ndjson")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable); // the audit service cannot be read
        return app;
    }

    /// <summary>
    /// JSON Lines, streamed as the record is read: a <c>change</c> line per action whose effect would change, a
    /// <c>progress</c> line every <c>progressEvery</c> recorded actions read (how many were read, decided and changed, and the
    /// decision time reached, so a long range shows how far it has come), and a <c>summary</c> line last (counts by rule).
    /// A stream without its summary line was cut short. Problems found before the first line are problem details.
    /// </summary>
    public static async Task<IResult> Simulate(SimulateRequest body, HttpContext context, PolicyVersions versions,
        PolicySimulator simulator, RecordedDecisions record, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(body.Yaml) || body.From is not { } from || body.To is not { } to || to <= from)
            return TypedResults.Problem(statusCode: 400, title: "Bad request",
                detail: "Send {\"yaml\": \"<candidate policy section>\", \"from\": \"<ISO time>\", \"to\": \"<a later ISO time>\", \"connection\"?: \"...\", \"subject\"?: \"...\", \"progressEvery\"?: 500}.");
        if (body.ProgressEvery is < 1 or > MaxProgressEvery)
            return TypedResults.Problem(statusCode: 400, title: "Bad request",
                detail: $"progressEvery is a number of recorded actions between 1 and {MaxProgressEvery} (default {ProgressEvery}).");
        var every = body.ProgressEvery ?? ProgressEvery;

        PolicySimulator.Run run;
        try
        {
            run = simulator.Start(versions.CompileCandidate(body.Yaml), await versions.CompiledHistoryAsync(cancellationToken),
                body.Connection, body.Subject);
        }
        catch (InvalidOperationException ex)
        {
            return TypedResults.Problem(statusCode: 400, title: "The candidate policy is not valid", detail: ex.Message);
        }

        HttpResponseMessage export;
        try
        {
            export = await record.OpenAsync(from, to, context.Request.Headers.Authorization.ToString() is { Length: > 0 } auth ? auth : null,
                cancellationToken);
        }
        catch (RecordUnavailableException ex)
        {
            return TypedResults.Problem(statusCode: ex.Status, title: "The record cannot be read", detail: ex.Message);
        }

        using (export)
        {
            context.Response.ContentType = "application/x-ndjson";
            await foreach (var recorded in RecordedDecisions.ReadAsync(export, cancellationToken))
            {
                if (run.Decide(recorded) is { } change)
                    await Write(context, new { type = "change", change }, cancellationToken);
                // Counted in actions read, not decided: a filter that passes few of them still shows the range moving.
                if (run.Read % every == 0)
                    await Write(context, new { type = "progress", read = run.Read, decided = run.Decided, changed = run.Changed,
                        at = recorded.EvaluatedAt }, cancellationToken);
            }
            await Write(context, new { type = "summary", summary = run.Summary() }, cancellationToken);
        }
        return Results.Empty;
    }

    private static async Task Write(HttpContext context, object line, CancellationToken cancellationToken)
    {
        await context.Response.Body.WriteAsync(JsonSerializer.SerializeToUtf8Bytes(line, Json), cancellationToken);
        await context.Response.Body.WriteAsync("\n"u8.ToArray(), cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }
}
