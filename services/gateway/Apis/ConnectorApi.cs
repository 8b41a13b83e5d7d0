using Portcullis.Contracts;
using Portcullis.Gateway.Connectors.Ssh;
using Portcullis.Gateway.Problems;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.Apis;

/// <summary>
/// The one shape of the endpoints where the gateway runs an agent's action itself (<c>POST /sql/{connection}</c>,
/// <c>POST /exec/{connection}</c>): what cannot become an action is refused at once; the rest goes through the
/// request flow around the connector, and an upstream that cannot be reached answers 502, masked and recorded
/// like any output.
/// </summary>
public static class ConnectorApi
{
    public static IEndpointRouteBuilder MapConnectorApis(this IEndpointRouteBuilder app)
    {
        app.MapPost("/sql/{connection}", SqlApi.Run).RequireAuthorization()
            .WithTags("Connectors").WithName("RunSql").WithSummary("Run SQL on a PostgreSQL connection")
            .WithDescription("The statement is judged by policy (which may hold it for an approver), run with the gateway's " +
                             "credentials, and its rows returned masked with each column's origin: " +
                             "{\"results\": [{\"columns\": [{name, type, origin}], \"rows\": [[...]], \"rowCount\", \"truncated\"}]}.")
            .Produces(StatusCodes.Status200OK, contentType: "application/json")
            .ProducesAgentAnswers()
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity) // the database refused the statement (with its SQLSTATE)
            .ProducesProblem(StatusCodes.Status504GatewayTimeout); // the statement was cancelled at its time limit
        app.MapPost("/exec/{connection}", ExecApi.Run).RequireAuthorization()
            .WithTags("Connectors").WithName("RunCommand").WithSummary("Run a command on a shell connection (SSH)")
            .WithDescription("The command is analysed and judged by policy (which may hold it for an approver), run on the host " +
                             "with the gateway's key, and its exit code, stdout and stderr returned masked.")
            .Produces<CommandResult>(StatusCodes.Status200OK)
            .ProducesAgentAnswers();
        return app;
    }

    /// <summary>
    /// What every agent action may be answered besides its result, all as problem details: 202 held for an approver
    /// (with the approval id and a status URL), 400 a request that cannot become an action, 403 refused by policy or
    /// an approver, 404 no such connection (or approval), 413 a body too large to bind an approval to, 502 the upstream
    /// failed, 503 the gateway cannot decide or record it now (nothing ran).
    /// </summary>
    public static RouteHandlerBuilder ProducesAgentAnswers(this RouteHandlerBuilder endpoint) => endpoint
        .ProducesProblem(StatusCodes.Status202Accepted)
        .ProducesProblem(StatusCodes.Status400BadRequest)
        .ProducesProblem(StatusCodes.Status403Forbidden)
        .ProducesProblem(StatusCodes.Status404NotFound)
        .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
        .ProducesProblem(StatusCodes.Status502BadGateway)
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    /// <summary>
    /// Runs <paramref name="action"/> through the flow: <paramref name="execute"/> gets the request and the upstream's
    /// description (for the audit, never credentials); an exception <see cref="ConnectorEndpoint.Unreachable"/> knows
    /// becomes the 502 answer.
    /// </summary>
    public static Task RunAsync(HttpContext context, AgentRequestFlow flow, ConnectorEndpoint endpoint, AgentAction action,
        Func<string> describeUpstream, Func<AgentRequest, string, Task<ConnectorOutput>> execute, ILogger logger) =>
        flow.RunAsync(context, action, async request =>
        {
            var upstream = describeUpstream();
            try
            {
                return await execute(request, upstream);
            }
            catch (Exception ex) when (endpoint.Unreachable(ex) is { } reason)
            {
                logger.LogWarning("Request {RequestId}: connection {Connection} failed ({Reason})", request.RequestId,
                    action.Connection, reason);
                var detail = string.Format(System.Globalization.CultureInfo.InvariantCulture, endpoint.UnreachableDetail, action.Connection);
                return Problem(context, 502, "upstream-failed", endpoint.UnreachableTitle,
                    endpoint.Why?.Invoke(ex) is { } why ? $"{detail} {why}" : detail, [], upstream);
            }
        });

    /// <summary>A problem document as a connector's output: masked and recorded before the agent sees it.</summary>
    public static ConnectorOutput Problem(HttpContext context, int status, string type, string title, string detail,
        Dictionary<string, object?> extensions, string upstream) =>
        new(status, "application/problem+json", ProblemDocument.Bytes(context, status, type, title, detail, extensions), upstream);
}

/// <summary>What an endpoint of <see cref="ConnectorApi"/> says about its connector's failures.</summary>
/// <param name="Unreachable">For an exception that means the upstream could not be reached, the reason to log; null otherwise.</param>
/// <param name="UnreachableDetail">The answer's detail; <c>{0}</c> is the connection's name.</param>
/// <param name="Why">For a failure the gateway itself worded (never the upstream's own words), what to add to the detail.</param>
public sealed record ConnectorEndpoint(Func<Exception, string?> Unreachable, string UnreachableTitle, string UnreachableDetail,
    Func<Exception, string?>? Why = null);
