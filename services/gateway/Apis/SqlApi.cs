using System.Text.Json;
using Npgsql;
using Portcullis.Contracts;
using Portcullis.Gateway.Problems;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Defaults.Secrets;

namespace Portcullis.Gateway.Apis;

public static class SqlApi
{
    public static IEndpointRouteBuilder MapSqlApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/sql/{connection}", Run).RequireAuthorization();
        return app;
    }

    /// <summary>POST /sql/{connection} {"sql": "...", "parameters": [...]}: the rows, masked, with column origins.</summary>
    public static async Task Run(string connection, SqlRequest? body, HttpContext context, AgentRequestFlow flow,
        PostgresConnector postgres, AgentResponses responses, ILogger<PostgresConnector> logger)
    {
        if (await responses.RefusedAsync(context, postgres.Has(connection), connection, "postgres", body?.Sql,
                "Send {\"sql\": \"SELECT ...\", \"parameters\": [...]} (parameters are $1, $2, ...).")) return;
        var (values, error) = Parameters(body!.Parameters);
        string? parameters = null;
        try
        {
            parameters = PostgresConnector.CanonicalParameters(values);
        }
        catch (FormatException ex)
        {
            error = ex.Message;
        }
        if (error is not null)
        {
            await responses.BadRequest(context, error);
            return;
        }
        // The parameters are part of the action: policy judges them, the audit records them, an approval covers them.
        var action = new AgentAction(Protocols.Sql, connection, Sql: body.Sql, Parameters: parameters);
        await flow.RunAsync(context, action, async request =>
        {
            var target = postgres.Describe(connection);
            try
            {
                var result = await postgres.ExecuteAsync(connection, body.Sql!, values, request.Obligations, context.RequestAborted);
                return new ConnectorOutput(200, "application/json", SqlResultWriter.Write(result), target,
                    MaskAs: MaskingMediaTypes.SqlResults); // column rules follow the columns' origins
            }
            catch (MaskedViewException ex)
            {
                return new ConnectorOutput(403, "application/problem+json", ProblemDocument.Bytes(context, 403,
                    "masked-view", "Refused: a view over a masked column", ex.Message, []), target);
            }
            catch (PostgresException ex)
            {
                // The database's own words, with its SQLSTATE; masked like any output before the agent sees it.
                var status = ex.SqlState == PostgresErrorCodes.QueryCanceled ? 504 : 422;
                return new ConnectorOutput(status, "application/problem+json", ProblemDocument.Bytes(context, status,
                    "sql-error", ex.SqlState == PostgresErrorCodes.QueryCanceled ? "Statement cancelled" : "The database refused the statement",
                    ex.MessageText, new() { ["sqlstate"] = ex.SqlState, ["position"] = ex.Position == 0 ? null : ex.Position }), target);
            }
            catch (Exception ex) when (ex is NpgsqlException or SecretNotFoundException or TimeoutException)
            {
                logger.LogWarning("Request {RequestId}: connection {Connection} failed ({Reason})", request.RequestId, connection, ex.GetType().Name);
                return new ConnectorOutput(502, "application/problem+json", ProblemDocument.Bytes(context, 502,
                    "upstream-failed", "Database unavailable",
                    $"The database of connection '{connection}' could not be reached; nothing was run.", []), target);
            }
        });
    }

    /// <summary>The parameters as they will be sent, or what is wrong with them: refused before anything is asked or run.</summary>
    private static (IReadOnlyList<object> Values, string? Error) Parameters(IReadOnlyList<JsonElement>? parameters)
    {
        if (parameters is null) return ([], null);
        if (parameters.Count > PostgresConnector.MaxParameters)
            return ([], $"At most {PostgresConnector.MaxParameters} parameters can be sent with one statement.");
        var values = new object[parameters.Count];
        for (var i = 0; i < values.Length; i++)
            if (!PostgresConnector.TryParameterValue(parameters[i], out values[i], out var error))
                return ([], $"Parameter ${i + 1}: {error}");
        return (values, null);
    }
}

public sealed record SqlRequest(string? Sql, IReadOnlyList<JsonElement>? Parameters);
