using System.Security.Claims;
using MassTransit;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Approval.Saga;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Approval.Apis;

/// <summary>
/// The approver API (bearer tokens): list and read approvals, approve (once, or for a time window), deny,
/// revoke a window. Decisions go to the saga, which alone decides whether they apply; its refusals come back
/// as problem details (403 not an approver or the requester, 409 already decided, 404 unknown).
/// </summary>
public static class ApprovalsApi
{
    public static IEndpointRouteBuilder MapApprovalsApi(this IEndpointRouteBuilder app)
    {
        var approvals = app.MapGroup("/approvals")
            .RequireAuthorization(policy => policy.AddAuthenticationSchemes(JwtBearerDefaults.AuthenticationScheme)
                .RequireAuthenticatedUser())
            .WithTags("Approvals");
        approvals.MapGet("/", List).WithName("ListApprovals")
            .WithSummary("Approvals the caller may decide or asked for, newest first (up to 500); ?state= filters");
        approvals.MapGet("/{id:guid}", Get).WithName("GetApproval").WithSummary("One approval the caller may see")
            .ProducesProblem(StatusCodes.Status404NotFound);
        approvals.MapPost("/{id:guid}/approve", Approve).WithName("Approve")
            .WithSummary("Approve, once or for a window (\"window\": \"30m\")").ProducesDecisionRefusals();
        approvals.MapPost("/{id:guid}/deny", Deny).WithName("Deny").WithSummary("Deny").ProducesDecisionRefusals();
        approvals.MapPost("/{id:guid}/revoke", Revoke).WithName("RevokeGrant")
            .WithSummary("Revoke a grant's window before it ends").ProducesDecisionRefusals();
        return app;
    }

    /// <summary>Approvals the caller may decide (their groups are among the approvers) or asked for, newest first (up to 500).</summary>
    public static async Task<Ok<IReadOnlyList<ApprovalStatus>>> List(ClaimsPrincipal user, ApprovalQueries queries,
        string? state, CancellationToken cancellationToken) =>
        TypedResults.Ok(await queries.Visible(user.ToPrincipal(), state, cancellationToken));

    public static async Task<Results<Ok<ApprovalStatus>, ProblemHttpResult>> Get(Guid id, ClaimsPrincipal user,
        ApprovalQueries queries, CancellationToken cancellationToken) =>
        await queries.VisibleOne(id, user.ToPrincipal(), cancellationToken) is { } approval
            ? TypedResults.Ok(approval)
            : NotFound(id);

    public static Task<Results<Ok<ApprovalStatus>, ProblemHttpResult>> Approve(Guid id, DecisionBody? body, ClaimsPrincipal user,
        IRequestClient<ApproveApproval> client, CancellationToken cancellationToken)
    {
        TimeSpan? window = null;
        if (!string.IsNullOrWhiteSpace(body?.Window))
        {
            if (!DurationText.TryParse(body.Window, out var parsed) || parsed <= TimeSpan.Zero)
                return Task.FromResult<Results<Ok<ApprovalStatus>, ProblemHttpResult>>(TypedResults.Problem(statusCode: 400,
                    title: "Bad window", detail: $"'{body.Window}' is not a duration: write it like 30m, 2h or 90s."));
            window = parsed;
        }
        return Decide(client, new ApproveApproval(id, user.ToPrincipal(), body?.Comment, window), cancellationToken);
    }

    public static Task<Results<Ok<ApprovalStatus>, ProblemHttpResult>> Deny(Guid id, DecisionBody? body, ClaimsPrincipal user,
        IRequestClient<DenyApproval> client, CancellationToken cancellationToken) =>
        Decide(client, new DenyApproval(id, user.ToPrincipal(), body?.Comment), cancellationToken);

    public static Task<Results<Ok<ApprovalStatus>, ProblemHttpResult>> Revoke(Guid id, DecisionBody? body, ClaimsPrincipal user,
        IRequestClient<RevokeGrant> client, CancellationToken cancellationToken) =>
        Decide(client, new RevokeGrant(id, user.ToPrincipal(), body?.Comment), cancellationToken);

    /// <summary>The saga's refusals of a decision: 403 not an approver (or the requester), 404 unknown, 409 already decided.</summary>
    private static RouteHandlerBuilder ProducesDecisionRefusals(this RouteHandlerBuilder endpoint) => endpoint
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status409Conflict);

    /// <summary>Sends a command to the saga and turns its answer into a result.</summary>
    public static async Task<Results<Ok<ApprovalStatus>, ProblemHttpResult>> Decide<T>(IRequestClient<T> client, T command,
        CancellationToken cancellationToken) where T : class
    {
        var response = await client.GetResponse<ApprovalStatus, ApprovalRefused>(command, cancellationToken);
        if (response.Is(out Response<ApprovalStatus>? status)) return TypedResults.Ok(status.Message);
        response.Is(out Response<ApprovalRefused>? refusal);
        var refused = refusal!.Message;
        return TypedResults.Problem(statusCode: StatusFor(refused.Code), title: TitleFor(refused.Code), detail: refused.Detail,
            type: "https://portcullis.dev/problems/approval-" + refused.Code.Replace('_', '-'),
            extensions: new Dictionary<string, object?> { ["approvalId"] = refused.ApprovalId, ["code"] = refused.Code });
    }

    public static int StatusFor(string code) => code switch
    {
        ApprovalRefusals.NotFound => 404,
        ApprovalRefusals.NotApprover or ApprovalRefusals.SelfApproval or ApprovalRefusals.Mismatch => 403,
        _ => 409,
    };

    private static string TitleFor(string code) => code switch
    {
        ApprovalRefusals.NotFound => "Approval not found",
        ApprovalRefusals.NotApprover => "Not an approver of this action",
        ApprovalRefusals.SelfApproval => "Requesters cannot decide their own actions",
        ApprovalRefusals.AlreadyDecided => "Already decided",
        _ => "Refused",
    };

    private static ProblemHttpResult NotFound(Guid id) =>
        TypedResults.Problem(statusCode: 404, title: "Approval not found", detail: $"There is no approval {id} you can see.");
}

/// <summary>An approver's decision: a comment, and for an approval optionally a window such as "30m".</summary>
public sealed record DecisionBody(string? Comment, string? Window);
