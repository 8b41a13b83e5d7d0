using System.Collections.Concurrent;
using System.Text.Json;
using Npgsql;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Secrets;


namespace Portcullis.Gateway.Connectors.Postgres;

/// <summary>
/// Runs an agent's SQL on a postgres connection with the gateway's credentials and the decision's
/// obligations: a read-only transaction, a statement timeout, a row cap (with a truncated flag). Rows are read
/// in batches up to the cap; each column carries its origin.
/// </summary>
public sealed class PostgresConnector(PortcullisConfig config, SecretResolver secrets, ColumnOrigins origins,
    MaskedViews maskedViews, ILogger<PostgresConnector> logger)
{
    public const int DefaultMaxRows = 1000;
    private readonly ConcurrentDictionary<string, NpgsqlDataSource> _sources = new(StringComparer.Ordinal);

    public bool Has(string connection) =>
        config.Connections.TryGetValue(connection, out var c) && c.Kind == "postgres";

    /// <summary>host:port/database of the connection, for the audit record (never the credentials).</summary>
    public string Describe(string connection)
    {
        var builder = new NpgsqlConnectionStringBuilder(config.Connections[connection].ConnectionString);
        return $"postgres://{builder.Host}:{builder.Port}/{builder.Database}";
    }

    public async Task<SqlResult> ExecuteAsync(string connection, string sql, IReadOnlyList<JsonElement> parameters,
        Obligations obligations, CancellationToken cancellationToken)
    {
        var source = await DataSource(connection, cancellationToken);
        var maxRows = obligations.MaxRows ?? DefaultMaxRows;
        await using var database = await source.OpenConnectionAsync(cancellationToken);
        await using var transaction = await database.BeginTransactionAsync(cancellationToken);
        if (obligations.ReadOnly) await Run(database, transaction, "SET TRANSACTION READ ONLY", cancellationToken);
        var timeout = obligations.StatementTimeoutMs ?? TimeoutMs(connection);
        if (timeout is { } ms) await Run(database, transaction, $"SET LOCAL statement_timeout = {ms}", cancellationToken);
        if (await maskedViews.RefusalAsync(connection, database, transaction, obligations.Relations, cancellationToken) is { } refusal)
            throw new MaskedViewException(refusal);

        var results = new List<ResultSet>();
        var columnsSeen = new List<(uint, short)>();
        await using (var command = new NpgsqlCommand(sql, database, transaction))
        {
            foreach (var parameter in parameters) command.Parameters.Add(new NpgsqlParameter { Value = ParameterValue(parameter) });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var rowsLeft = maxRows;
            do
            {
                if (reader.FieldCount == 0) continue;
                var schema = reader.GetColumnSchema(); // from the row description: no extra round trip
                var rows = new List<object?[]>();
                var truncated = false;
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (rowsLeft == 0) { truncated = true; break; }
                    var row = new object?[reader.FieldCount];
                    for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
                    rows.Add(row);
                    rowsLeft--;
                }
                columnsSeen.AddRange(schema.Select(c => (c.TableOID, (short)(c.ColumnAttributeNumber ?? 0))));
                results.Add(new ResultSet(
                    [.. schema.Select(c => new ResultColumn(c.ColumnName, c.DataTypeName, c.TableOID, (short)(c.ColumnAttributeNumber ?? 0)))],
                    rows, truncated));
            } while (await reader.NextResultAsync(cancellationToken));
        }

        await origins.ResolveAsync(connection, database, transaction, columnsSeen, cancellationToken);
        // The agent's SQL never commits unless it is allowed to write; a read-only transaction commits nothing anyway.
        await transaction.CommitAsync(cancellationToken);
        return new SqlResult([.. results.Select(r => r with
        {
            Columns = [.. r.Columns.Select(c => c with { Origin = origins.Get(connection, c.Table, c.Attribute) })],
        })]);
    }

    private int? TimeoutMs(string connection) =>
        config.Connections[connection].Timeout is { } text && DurationText.TryParse(text, out var duration)
            ? (int)duration.TotalMilliseconds
            : null;

    private async Task<NpgsqlDataSource> DataSource(string connection, CancellationToken cancellationToken)
    {
        if (_sources.TryGetValue(connection, out var existing)) return existing;
        var settings = config.Connections[connection];
        var builder = new NpgsqlConnectionStringBuilder(settings.ConnectionString)
        {
            ApplicationName = "portcullis-gateway",
            IncludeErrorDetail = false, // error details can carry row values; the masked message is enough
        };
        if (settings.Password is { } password) builder.Password = await secrets.ResolveAsync(password, cancellationToken);
        var source = NpgsqlDataSource.Create(builder.ConnectionString);
        if (!_sources.TryAdd(connection, source)) await source.DisposeAsync();
        logger.LogInformation("Connection {Connection} opened a pool to {Target}", connection, Describe(connection));
        return _sources[connection];
    }

    private static async Task Run(NpgsqlConnection database, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, database, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static object ParameterValue(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number when value.TryGetInt64(out var integer) => integer,
        JsonValueKind.Number => value.GetDecimal(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Null => DBNull.Value,
        _ => value.GetRawText(),
    };
}

public sealed record SqlResult(IReadOnlyList<ResultSet> Results);

public sealed record ResultSet(IReadOnlyList<ResultColumn> Columns, IReadOnlyList<object?[]> Rows, bool Truncated);

public sealed record ResultColumn(string Name, string Type, uint Table, short Attribute, string? Origin = null);
