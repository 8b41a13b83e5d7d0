using System.Text.Json;
using Npgsql;
using Portcullis.Contracts;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.Apis;

/// <summary>POST /sql/{connection} {"sql": "...", "parameters": [...]}: the rows, masked, with column origins.</summary>
public static class SqlApi
{
    public const string Usage = "Send {\"sql\": \"SELECT ...\", \"parameters\": [...]} (parameters are $1, $2, ...).";

    private static readonly ConnectorEndpoint Endpoint = new(
        ex => ex is NpgsqlException or SecretNotFoundException or TimeoutException ? ex.GetType().Name : null,
        "Database unavailable", "The database of connection '{0}' could not be reached; nothing was run.");

    public static async Task Run(string connection, SqlRequest? body, HttpContext context, AgentRequestFlow flow,
        PostgresConnector postgres, AgentResponses responses, ILogger<PostgresConnector> logger)
    {
        if (await responses.RefusedAsync(context, postgres.Has(connection), connection, "postgres", body?.Sql, Usage)) return;
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
        await RunAction(context, flow, postgres, action, values, logger);
    }

    /// <summary>
    /// Runs a SQL action through the request flow, as /sql does for every protocol that carries SQL (this endpoint,
    /// MCP's sql_query, the PostgreSQL wire listener). <paramref name="ran"/> is told what the connector returned,
    /// before masking: the wire listener takes the columns' table, attribute and type from it, and compares values only to
    /// know which columns masking changed (what it sends is always the masked output).
    /// </summary>
    /// <remarks>
    /// <paramref name="statement"/>, when given, is what runs after the <paramref name="prelude"/> statements; the action's
    /// SQL (what policy judges and the audit records) is then the prelude and the statement together.
    /// </remarks>
    public static Task RunAction(HttpContext context, AgentRequestFlow flow, PostgresConnector postgres, AgentAction action,
        IReadOnlyList<object> values, ILogger logger, Action<SqlResult>? ran = null, IReadOnlyList<string>? prelude = null,
        string? statement = null)
    {
        var connection = action.Connection;
        return ConnectorApi.RunAsync(context, flow, Endpoint, action, () => postgres.Describe(connection), async (request, target) =>
        {
            try
            {
                // The wire listener's statements inside a transaction run on the connection it pinned for it.
                var result = await postgres.ExecuteAsync(connection, statement ?? action.Sql!, values, request.Obligations,
                    context.RequestAborted, prelude, context.Features.Get<PinnedRun>());
                ran?.Invoke(result);
                request.Rows = result.Results.Sum(set => (long)set.Rows.Count);
                return new ConnectorOutput(200, "application/json", SqlResultWriter.Write(result), target,
                    MaskAs: MaskingMediaTypes.SqlResults); // column rules follow the columns' origins
            }
            catch (MaskedViewException ex)
            {
                return ConnectorApi.Problem(context, 403, "masked-view", "Refused: a view over a masked column", ex.Message, [], target);
            }
            catch (PostgresException ex)
            {
                // The database's own words, with its SQLSTATE, without the values they can quote; masked like any output.
                var status = ex.SqlState == PostgresErrorCodes.QueryCanceled ? 504 : 422;
                return ConnectorApi.Problem(context, status, "sql-error",
                    ex.SqlState == PostgresErrorCodes.QueryCanceled ? "Statement cancelled" : "The database refused the statement",
                    SqlErrorText.For(ex), new() { ["sqlstate"] = ex.SqlState, ["position"] = ex.Position == 0 ? null : ex.Position }, target);
            }
        }, logger);
    }

    /// <summary>
    /// Describes a SQL action (its parameter types and result columns) through the request flow: policy decides it as it
    /// would decide running it, the audit records it, and the upstream only parses it (nothing runs). The wire listener's
    /// Describe of a prepared statement, which drivers such as asyncpg send before they bind.
    /// </summary>
    public static Task DescribeAction(HttpContext context, AgentRequestFlow flow, PostgresConnector postgres, AgentAction action,
        ILogger logger, Action<SqlDescription> described, IReadOnlyList<string>? prelude = null, string? statement = null)
    {
        var connection = action.Connection;
        return ConnectorApi.RunAsync(context, flow, Endpoint, action, () => postgres.Describe(connection), async (request, target) =>
        {
            try
            {
                var description = await postgres.DescribeAsync(connection, statement ?? action.Sql!, request.Obligations,
                    context.RequestAborted, prelude, context.Features.Get<PinnedRun>());
                described(description);
                var body = JsonSerializer.SerializeToUtf8Bytes(new
                {
                    parameterTypes = description.ParameterTypes,
                    columns = description.Columns.Select(c => new { name = c.Name, type = c.Type }),
                });
                return new ConnectorOutput(200, "application/json", body, target);
            }
            catch (PostgresException ex)
            {
                return ConnectorApi.Problem(context, 422, "sql-error", "The database refused the statement",
                    SqlErrorText.For(ex), new() { ["sqlstate"] = ex.SqlState, ["position"] = ex.Position == 0 ? null : ex.Position }, target);
            }
        }, logger);
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
