using Portcullis.Contracts;
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
        app.MapPost("/sql/{connection}", SqlApi.Run).RequireAuthorization();
        app.MapPost("/exec/{connection}", ExecApi.Run).RequireAuthorization();
        return app;
    }

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
                return Problem(context, 502, "upstream-failed", endpoint.UnreachableTitle,
                    string.Format(System.Globalization.CultureInfo.InvariantCulture, endpoint.UnreachableDetail, action.Connection),
                    [], upstream);
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
public sealed record ConnectorEndpoint(Func<Exception, string?> Unreachable, string UnreachableTitle, string UnreachableDetail);
