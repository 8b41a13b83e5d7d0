using System.Text;
using Marten;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.OpenApi;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;

namespace Portcullis.Audit.Apis;

/// <summary>A session replayed for auditors: each action in order with its decision, approval, outcome and masked output.</summary>
public static class ReplayApi
{
    public static IEndpointRouteBuilder MapReplayApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/sessions/{id}/replay", Replay).RequireAuthorization(Extensions.AuditorPolicy)
            .WithTags("Sessions").WithName("ReplaySession")
            .WithSummary("A session replayed: each action with its decision, approval, outcome and the masked output the agent saw")
            .Produces<SessionReplay>()
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                // ?format=text: the same replay as a transcript a person reads.
                operation.Responses?["200"].Content?.Add("text/plain", new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } });
                return Task.CompletedTask;
            })
            .ProducesProblem(StatusCodes.Status404NotFound);
        app.MapGet("/export", Export).RequireAuthorization(Extensions.AuditorPolicy)
            .WithTags("Record").WithName("ExportEvents")
            .WithSummary("Every event recorded in [from, to), as JSON Lines in recording order (streamed)")
            .Produces(StatusCodes.Status200OK, contentType: "application/x-ndjson");
        return app;
    }

    /// <summary>?format=text gives a transcript a person reads; JSON otherwise.</summary>
    public static async Task<IResult> Replay(string id, string? format, IQuerySession session, CancellationToken cancellationToken)
    {
        var events = await session.Events.FetchStreamAsync(id, token: cancellationToken);
        if (events.Count == 0)
            return TypedResults.Problem(statusCode: 404, title: "Session not found", detail: $"No events are recorded for session '{id}'.");

        var steps = events.Select(e => e.Data).OfType<IRequestMessage>().GroupBy(m => m.RequestId)
            .Select(request => ReplayStep.From([.. request])).ToList();
        if (format != "text") return TypedResults.Ok(new SessionReplay(id, steps));

        // Every recorded value goes through Transcript.Visible: a carriage return, an escape sequence or a bidi
        // override in an agent's action must show as what it is, not make a terminal hide part of the action.
        static string V(string? value) => Transcript.Visible(value);
        var text = new StringBuilder($"Session {V(id)}: {steps.Count} action(s)\n");
        foreach (var (step, index) in steps.Select((s, i) => (s, i + 1)))
        {
            text.Append($"\n#{index} {step.At:u} {V(step.Subject)} [{V(string.Join(",", step.Groups))}] on {V(step.Connection)}: {V(step.Action)}\n");
            text.Append($"   decision: {V(step.Decision ?? "none")}{(step.Rule is null ? "" : $" by {V(step.Rule)}")} (policy {V(step.PolicyVersion ?? "-")}): {V(step.Reason)}\n");
            if (step.Approval is not null) text.Append($"   approval: {V(step.Approval)}\n");
            if (step.Masked is { Count: > 0 }) text.Append($"   masked: {V(string.Join(", ", step.Masked.Select(m => $"{m.Key} x{m.Value}")))}\n");
            text.Append($"   outcome: {V(step.Outcome ?? "unfinished")} {step.Status}\n");
            if (step.Output is not null) text.Append($"   the agent saw: {V(step.Output)}\n");
            if (step.Quarantined is not null) text.Append($"   set aside by the audit: {V(step.Quarantined)}\n");
        }
        return TypedResults.Text(text.ToString(), "text/plain; charset=utf-8");
    }

    /// <summary>Every event recorded in [from, to), as JSON Lines, streamed: one event per line, in recording order.</summary>
    public static async Task Export(DateTimeOffset from, DateTimeOffset to, HttpContext context, IQuerySession session,
        CancellationToken cancellationToken)
    {
        context.Response.ContentType = "application/x-ndjson";
        var events = session.Events.QueryAllRawEvents()
            .Where(e => e.Timestamp >= from && e.Timestamp < to)
            .OrderBy(e => e.Sequence)
            .ToAsyncEnumerable(cancellationToken);
        await foreach (var e in events)
            await context.Response.Body.WriteAsync(EventLine.Serialize(e), cancellationToken);
    }
}

public sealed record SessionReplay(string SessionId, IReadOnlyList<ReplayStep> Steps);

public sealed record ReplayStep(Guid RequestId, DateTimeOffset At, string? Subject, IReadOnlyList<string> Groups, string Connection,
    string Action, string? Decision, string? Rule, string? Reason, string? PolicyVersion, string? Approval,
    IReadOnlyDictionary<string, int>? Masked, string? Outcome, int? Status, string? Output, string? Quarantined = null)
{
    public static ReplayStep From(IReadOnlyList<IRequestMessage> messages)
    {
        var received = messages.OfType<RequestReceived>().FirstOrDefault();
        var decision = messages.OfType<PolicyEvaluated>().FirstOrDefault();
        var completed = messages.OfType<RequestCompleted>().FirstOrDefault();
        var action = received?.Action ?? decision?.Action;
        var approval = messages.Select(m => m switch
        {
            ApprovalGranted g => $"granted by {g.Approver}{(g.GrantedUntil is { } until ? $" until {until:u}" : "")}{(g.Comment is null ? "" : $": {g.Comment}")}",
            ApprovalClaimed c => $"runs under approval {c.ApprovalId} granted by {c.GrantedBy}{(c.GrantedUntil is { } window ? $" (window until {window:u})" : "")}",
            GrantRevoked r => $"grant revoked by {r.RevokedBy}",
            ApprovalDenied d => $"denied by {d.Approver}{(d.Comment is null ? "" : $": {d.Comment}")}",
            ApprovalExpired => "expired",
            ApprovalRequested r => $"requested from {string.Join(", ", r.ApproverGroups)}",
            _ => null,
        }).Where(a => a is not null).ToList() is { Count: > 0 } approvals ? string.Join("; ", approvals) : null;
        return new ReplayStep(
            messages[0].RequestId,
            received?.ReceivedAt ?? decision?.EvaluatedAt ?? completed?.CompletedAt ?? DateTimeOffset.MinValue,
            received?.Principal.Subject ?? decision?.Principal.Subject,
            received?.Principal.Groups ?? decision?.Principal.Groups ?? [],
            action?.Connection ?? "",
            action is null ? "" : Describe(action),
            decision?.Decision.ToString(), decision?.RuleId, decision?.Reason, decision?.PolicyVersion, approval,
            messages.OfType<ResponseMasked>().FirstOrDefault()?.CountsByEntity,
            completed?.Outcome, completed?.StatusCode, completed?.Output?.Preview,
            messages.OfType<EventQuarantined>().Select(q => $"{q.EventType}: {q.Reason}").ToList() is { Count: > 0 } set
                ? string.Join("; ", set) : null);
    }

    private static string Describe(AgentAction action) => action.Protocol switch
    {
        Protocols.Sql => $"SQL {action.Sql}",
        Protocols.Exec => $"command {action.Command}",
        Protocols.Mcp => Projections.SessionTimelineProjection.McpText(action),
        _ => $"{action.Method} {action.Path}{action.Query}",
    };
}

/// <summary>Text for a terminal: every character that could move the cursor, hide or reorder text shown as a visible escape.</summary>
public static class Transcript
{
    /// <summary>
    /// <paramref name="value"/> with backslashes doubled (so an escape cannot be faked), <c>\r \n \t</c> as such,
    /// other control characters (C0, DEL, C1) as <c>\xHH</c>, and format characters (bidi overrides, zero-width
    /// characters), line and paragraph separators and lone surrogates as <c>\uXXXX</c>.
    /// </summary>
    public static string Visible(string? value)
    {
        if (string.IsNullOrEmpty(value)) return value ?? "";
        StringBuilder? text = null;
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            string? escape = c switch
            {
                '\\' => @"\\",
                '\r' => @"\r",
                '\n' => @"\n",
                '\t' => @"\t",
                _ when char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]) => null,
                _ when char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(value[i - 1]) => null,
                _ when c <= '\u00ff' && char.IsControl(c) => $@"\x{(int)c:x2}",
                _ when char.IsSurrogate(c) || char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format
                    or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator
                    => $@"\u{(int)c:x4}",
                _ => null,
            };
            if (escape is null)
            {
                text?.Append(c);
                continue;
            }
            text ??= new StringBuilder(value, 0, i, value.Length + 16);
            text.Append(escape);
        }
        return text?.ToString() ?? value;
    }
}
