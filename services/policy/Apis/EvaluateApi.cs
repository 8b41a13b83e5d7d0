using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Contracts;
using Portcullis.Policy.Analysis;
using Portcullis.Policy.Rules;
using Portcullis.Policy.Versions;

namespace Portcullis.Policy.Apis;

public static class EvaluateApi
{
    public static IEndpointRouteBuilder MapEvaluateApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/policy/evaluate", Evaluate).RequireAuthorization(Extensions.AdminPolicy)
            .WithTags("Policy").WithName("EvaluatePolicy").WithSummary("Decide one action (a dry run), or run the policy's test cases")
            .WithDescription("With a principal and an action: the decision of the version in force, the rules that matched and what " +
                             "the action was parsed into. With {\"tests\": true}: the test cases of the version in force, or of the " +
                             "candidate \"yaml\" given. Nothing is recorded or run.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        return app;
    }

    /// <summary>A dry run for rule authors: the decision, the rules that matched and what the action was parsed into.</summary>
    public static async Task<Results<Ok<EvaluateResponse>, Ok<PolicyTestReport>, ProblemHttpResult>> Evaluate(
        EvaluateRequest body, PolicyEvaluator evaluator, PolicyProvider policy, PolicyVersions versions,
        CancellationToken cancellationToken)
    {
        // {"tests": true}: the policy's own test cases, of the version in force or of the candidate "yaml" given.
        if (body.Tests == true)
        {
            try
            {
                return TypedResults.Ok(await versions.RunTestsAsync(body.Yaml, cancellationToken));
            }
            catch (InvalidOperationException ex)
            {
                return TypedResults.Problem(statusCode: 400, title: "The policy is not valid", detail: ex.Message);
            }
        }
        if (body.Yaml is not null)
            return TypedResults.Problem(statusCode: 400, title: "Bad request",
                detail: "A candidate \"yaml\" is only read with \"tests\": true (to run its test cases).");

        if (body.Principal is null || body.Action is null || string.IsNullOrEmpty(body.Action.Connection)
            || body.Action.Protocol is not (Protocols.Http or Protocols.Sql or Protocols.Exec or Protocols.Mcp))
            return TypedResults.Problem(statusCode: 400, title: "Bad request",
                detail: "Give a principal {subject, groups} and an action {protocol: http|sql|exec|mcp, connection, ...}, or {\"tests\": true} to run the policy's test cases.");

        return TypedResults.Ok(DryRun(evaluator, policy.Current, body.Principal, body.Action));
    }

    /// <summary>The decision <paramref name="policy"/> makes on one action, with what the action was parsed into (also the command line's <c>evaluate</c>).</summary>
    public static EvaluateResponse DryRun(PolicyEvaluator evaluator, CompiledPolicy policy, EvaluatePrincipal principal, AgentAction action)
    {
        var request = new RequestReceived(Guid.NewGuid(), "dry-run",
            new Principal(principal.Subject ?? "", principal.Subject, principal.Groups ?? []), action, DateTimeOffset.UtcNow);
        var (evaluated, analysis) = evaluator.Evaluate(policy, request);
        return new EvaluateResponse(evaluated.Decision, evaluated.RuleId, evaluated.Reason,
            evaluated.MatchedRules, evaluated.ApproverGroups, evaluated.Obligations, evaluated.PolicyVersion, Describe(analysis));
    }

    private static object? Describe(ActionAnalysis analysis) => analysis switch
    {
        { Sql: { } sql } => new
        {
            sql = new
            {
                statements = sql.Statements,
                kinds = sql.Kinds.Order(),
                tablesRead = sql.TablesRead.Select(t => t.ToString()).Order(),
                tablesWritten = sql.TablesWritten.Select(t => t.ToString()).Order(),
                functions = sql.Functions.Order(),
                columns = sql.Columns.Order(),
                error = sql.Error,
            },
        },
        { Shell: { } shell } => new
        {
            command = new
            {
                programs = shell.Programs,
                commands = shell.Commands,
                usesNetwork = shell.UsesNetwork,
                pipesIntoInterpreter = shell.PipesIntoInterpreter,
                runsInlineCode = shell.RunsInlineCode,
                runsProgram = shell.RunsProgram,
                writesFiles = shell.WritesFiles,
                envOverride = shell.OverridesEnvironment,
                paths = shell.Paths.Select(p => new { program = p.Program, written = p.Written, paths = p.Patterns.Select(x => x.Text) }),
                findings = shell.Findings,
                unanalysable = shell.Unanalysable,
            },
        },
        _ => null,
    };
}

public sealed record EvaluatePrincipal(string? Subject, IReadOnlyList<string>? Groups);

/// <summary>One action to decide, or (with <c>Tests</c>) the test cases of the version in force or of a candidate <c>Yaml</c>.</summary>
public sealed record EvaluateRequest(EvaluatePrincipal? Principal, AgentAction? Action, bool? Tests = null, string? Yaml = null);

public sealed record EvaluateResponse(Decision Decision, string? Rule, string Reason, IReadOnlyList<string> MatchedRules,
    IReadOnlyList<string> ApproverGroups, Obligations? Obligations, string PolicyVersion, object? Analysis);
