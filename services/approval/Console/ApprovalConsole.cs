using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using Portcullis.Approval.Saga;
using MassTransit;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Portcullis.Approval.Apis;
using Portcullis.Approval.Notifications;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Approval.Console;

/// <summary>
/// The approver console: server-rendered pages behind an OpenID Connect sign-in (authorization code with
/// PKCE against the same provider the gateway trusts). It lists the approvals the signed-in approver may
/// decide, with the whole action, and approves or denies them with a comment through the same saga commands
/// as the API. Forms carry anti-forgery tokens.
/// </summary>
public static class ApprovalConsole
{
    public const string Scheme = CookieAuthenticationDefaults.AuthenticationScheme;

    public static IEndpointRouteBuilder MapApprovalConsole(this IEndpointRouteBuilder app)
    {
        // Pages for a browser behind a sign-in, not an API: left out of the OpenAPI document.
        var console = app.MapGroup("/console").RequireAuthorization(policy => policy
            .AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser()).ExcludeFromDescription();
        console.MapGet("/", Index);
        console.MapGet("/approvals/{id:guid}", Index);
        console.MapPost("/approvals/{id:guid}/decide", Decide);
        app.MapGet("/console/signout", async context =>
        {
            await context.SignOutAsync(Scheme);
            context.Response.Redirect("/console/");
        }).ExcludeFromDescription();
        return app;
    }

    private static async Task<IResult> Index(HttpContext context, ClaimsPrincipal user, ApprovalQueries queries, IAntiforgery antiforgery,
        Guid? id, string? message, CancellationToken cancellationToken)
    {
        var caller = user.ToPrincipal();
        var approvals = await queries.Visible(caller, null, cancellationToken);
        var pending = approvals.Where(a => a.State == ApprovalStates.Pending && a.Requester.Subject != caller.Subject
                                           && caller.Groups.Any(a.ApproverGroups.Contains)).ToList();
        var decided = approvals.Where(a => a.State != ApprovalStates.Pending).Take(20).ToList();
        if (id is { } only)
        {
            pending = [.. pending.Where(a => a.ApprovalId == only)];
            decided = [.. approvals.Where(a => a.ApprovalId == only && a.State != ApprovalStates.Pending)];
        }
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = new StringBuilder();
        html.Append($"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Portcullis approvals</title>
            <style>
            body{"{"}font-family:system-ui,sans-serif;margin:2rem;max-width:70rem{"}"}
            .approval{"{"}border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0{"}"}
            pre{"{"}background:#f6f6f6;padding:.75rem;white-space:pre-wrap;word-break:break-all{"}"}
            dt{"{"}font-weight:bold{"}"} .message{"{"}background:#eef;padding:.5rem{"}"}
            </style></head><body>
            <header><h1>Pending approvals</h1><p>Signed in as <strong id="user">{E(caller.Subject)}</strong>
            ({E(string.Join(", ", caller.Groups))}) · <a href="/console/signout">sign out</a></p></header>
            """);
        if (!string.IsNullOrEmpty(message)) html.Append($"<p class=\"message\" role=\"status\">{E(message)}</p>");
        if (pending.Count == 0) html.Append("<p id=\"none\">Nothing waits for you.</p>");
        foreach (var approval in pending)
        {
            html.Append($"""
                <section class="approval" data-approval-id="{approval.ApprovalId}">
                <h2>{E(approval.Requester.Subject)} on {E(approval.Action.Connection)} ({E(approval.Action.Protocol)})</h2>
                <pre class="action">{E(ApprovalNotifier.ActionText(approval.Action))}</pre>
                <pre class="binding">{E(ApprovalNotifier.BindingText(approval.Action, approval.BodyPreview, approval.ActionHash))}</pre>
                <dl><dt>Rule</dt><dd>{E(approval.RuleId ?? "default")}: {E(approval.Reason)}</dd>
                <dt>Session</dt><dd>{E(approval.SessionId)}</dd>
                <dt>Requested</dt><dd>{approval.RequestedAt:u}, expires {approval.ExpiresAt:u}</dd>
                <dt>Approvers</dt><dd>{E(string.Join(", ", approval.ApproverGroups))}</dd></dl>
                <form method="post" action="/console/approvals/{approval.ApprovalId}/decide">
                <input type="hidden" name="{E(tokens.FormFieldName)}" value="{E(tokens.RequestToken ?? "")}">
                <label>Comment <input name="comment" size="60"></label>
                <label>For <select name="window"><option value="">this request only</option>
                <option value="15m">15 minutes</option><option value="30m">30 minutes</option><option value="1h">1 hour</option></select></label>
                <button name="decision" value="approve">Approve</button>
                <button name="decision" value="deny">Deny</button>
                </form></section>
                """);
        }
        if (decided.Count > 0)
        {
            html.Append("<h2>Recently decided</h2><ul>");
            foreach (var approval in decided)
                html.Append($"<li>{E(approval.State)}: {E(approval.Requester.Subject)} on {E(approval.Action.Connection)} " +
                            $"by {E(approval.DecidedBy ?? "nobody")}{(approval.Comment is { } c ? $" ({E(c)})" : "")}</li>");
            html.Append("</ul>");
        }
        html.Append("</body></html>");
        return Microsoft.AspNetCore.Http.Results.Content(html.ToString(), "text/html; charset=utf-8");
    }

    private static async Task<IResult> Decide(Guid id, [FromForm] string decision, [FromForm] string? comment,
        [FromForm] string? window, ClaimsPrincipal user, IServiceProvider services, CancellationToken cancellationToken)
    {
        var approver = user.ToPrincipal();
        Results<Ok<ApprovalStatus>, ProblemHttpResult> result;
        if (decision == "approve" && !string.IsNullOrWhiteSpace(window) && !DurationText.TryParse(window, out _))
        {
            // Never a silent "once" in place of a window the approver mistyped: nothing is decided.
            result = TypedResults.Problem(statusCode: 400, title: "Bad window",
                detail: $"'{window}' is not a duration: write it like 30m, 2h or 90s. Nothing was decided.");
        }
        else if (decision == "approve")
        {
            TimeSpan? span = !string.IsNullOrEmpty(window) && DurationText.TryParse(window, out var parsed) ? parsed : null;
            result = await ApprovalsApi.Decide(services.GetRequiredService<IRequestClient<ApproveApproval>>(),
                new ApproveApproval(id, approver, comment, span), cancellationToken);
        }
        else
        {
            result = await ApprovalsApi.Decide(services.GetRequiredService<IRequestClient<DenyApproval>>(),
                new DenyApproval(id, approver, comment), cancellationToken);
        }
        var message = result.Result switch
        {
            Ok<ApprovalStatus> ok =>
                $"{(ok.Value!.State == ApprovalStates.Granted ? "Approved" : "Denied")}: {ApprovalNotifier.ActionText(ok.Value.Action)}",
            ProblemHttpResult problem => $"Not applied: {problem.ProblemDetails.Detail}",
            _ => "Done.",
        };
        return Microsoft.AspNetCore.Http.Results.Redirect("/console/?message=" + Uri.EscapeDataString(message));
    }

    private static string E(string text) => HtmlEncoder.Default.Encode(text);

    /// <summary>Cookie sessions for the console, started by an OpenID Connect sign-in with the console's client.</summary>
    public static void AddConsoleSignIn(this AuthenticationBuilder authentication, IConfiguration configuration)
    {
        var console = configuration.GetSection("Console");
        authentication
            .AddCookie(Scheme, cookie =>
            {
                cookie.Cookie.Name = "portcullis-console";
                cookie.Cookie.SameSite = SameSiteMode.Lax;
                cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
                cookie.ForwardChallenge = OpenIdConnectDefaults.AuthenticationScheme;
            })
            .AddOpenIdConnect(OpenIdConnectDefaults.AuthenticationScheme, oidc =>
            {
                oidc.SignInScheme = Scheme;
                oidc.Authority = configuration["Auth:Authority"];
                oidc.RequireHttpsMetadata = configuration.GetValue("Auth:RequireHttpsMetadata", true);
                oidc.ClientId = console["ClientId"] ?? "portcullis-console";
                oidc.ClientSecret = console["ClientSecret"];
                oidc.ResponseType = "code";
                oidc.UsePkce = true;
                oidc.MapInboundClaims = false;
                oidc.GetClaimsFromUserInfoEndpoint = false;
                oidc.Scope.Clear();
                oidc.Scope.Add("openid");
                oidc.Scope.Add("profile");
                oidc.TokenValidationParameters.NameClaimType = "sub";
                oidc.TokenValidationParameters.RoleClaimType = AuthenticationExtensions.GroupsClaim;
                // Plain http on loopback in local stacks: the handler's own cookies must not demand https.
                oidc.CorrelationCookie.SameSite = SameSiteMode.Lax;
                oidc.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                oidc.NonceCookie.SameSite = SameSiteMode.Lax;
                oidc.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            });
    }
}
