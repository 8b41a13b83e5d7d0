using System.Security.Claims;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Contracts;
using Portcullis.Policy.Rules;
using Portcullis.Policy.Versions;

namespace Portcullis.Policy.Apis;

/// <summary>The policy's versions, for admins: read the one in force and its history, publish a new one.</summary>
public static class PolicyApi
{
    public static IEndpointRouteBuilder MapPolicyApi(this IEndpointRouteBuilder app)
    {
        var policy = app.MapGroup("/policy").RequireAuthorization(Extensions.AdminPolicy).WithTags("Policy");
        policy.MapGet("/", GetCurrent).WithName("GetPolicy").WithSummary("The policy version in force, as YAML");
        policy.MapGet("/versions", GetVersions).WithName("GetPolicyVersions").WithSummary("Every published version, oldest first");
        policy.MapPut("/", Publish).WithName("PublishPolicy").WithSummary("Publish a new version of the policy")
            .WithDescription("expectedVersion must be the version in force (409 otherwise); a version whose own test cases fail is " +
                             "refused with each failing case named (422).")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        return app;
    }

    public static async Task<Ok<CurrentPolicy>> GetCurrent(PolicyVersions versions, CancellationToken cancellationToken)
    {
        var current = await versions.CurrentAsync(cancellationToken);
        return TypedResults.Ok(new CurrentPolicy(current.Version, current.ContentHash, current.Yaml));
    }

    public static async Task<Ok<IEnumerable<VersionSummary>>> GetVersions(PolicyVersions versions, CancellationToken cancellationToken) =>
        TypedResults.Ok((await versions.HistoryAsync(cancellationToken)).Select(v =>
            new VersionSummary(v.Version, v.ContentHash, v.Source, v.PublishedBy, v.Comment, v.PublishedAt)));

    /// <summary>
    /// Publishes the policy section given as YAML. <c>expectedVersion</c> must be the version in force, so two
    /// admins cannot overwrite each other unseen (409 when it is not).
    /// </summary>
    public static async Task<Results<Ok<PolicyPublished>, ProblemHttpResult>> Publish(
        PublishPolicyRequest body, ClaimsPrincipal user, PolicyVersions versions, IPublishEndpoint bus,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(body.Yaml) || body.ExpectedVersion is not > 0)
            return TypedResults.Problem(statusCode: 400, title: "Bad request",
                detail: "Send {\"yaml\": \"<the policy section: default_effect and rules>\", \"expectedVersion\": <the version in force>, \"comment\": \"why\"}.");
        try
        {
            var published = await versions.PublishAsync(body.Yaml, body.ExpectedVersion.Value,
                user.FindFirstValue("sub") ?? "unknown", body.Comment, bus, cancellationToken);
            return TypedResults.Ok(published);
        }
        catch (PolicyTestsFailedException ex)
        {
            // The version is well formed but decides its own cases otherwise than it says: each failing case is named.
            return TypedResults.Problem(statusCode: 422, title: "The policy's tests fail", detail: ex.Message,
                extensions: new Dictionary<string, object?>
                {
                    ["failures"] = ex.Report.Failures.ToArray(),
                    ["passed"] = ex.Report.Passed,
                    ["failed"] = ex.Report.Failed,
                });
        }
        catch (InvalidOperationException ex)
        {
            return TypedResults.Problem(statusCode: 400, title: "The policy is not valid", detail: ex.Message);
        }
        catch (Exception ex) when (ex is JasperFx.ConcurrencyException or JasperFx.Events.EventStreamUnexpectedMaxEventIdException)
        {
            return TypedResults.Problem(statusCode: 409, title: "Version conflict",
                detail: $"Version {body.ExpectedVersion} is no longer the latest: read GET /policy and publish against the version in force.");
        }
    }
}

public sealed record PublishPolicyRequest(string? Yaml, int? ExpectedVersion, string? Comment);

public sealed record CurrentPolicy(int Version, string ContentHash, string Yaml);

public sealed record VersionSummary(int Version, string ContentHash, string Source, string PublishedBy, string? Comment,
    DateTimeOffset PublishedAt);
