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

    /// <summary>
    /// Runs <paramref name="sql"/> in a transaction of its own, or, with <paramref name="pinned"/>, on the wire session's
    /// pinned connection inside its open transaction. <paramref name="prelude"/>: session settings (the wire listener's
    /// earlier <c>SET</c>s) run first in the same transaction, so they hold for the statement; the caller has had them
    /// judged together with it.
    /// </summary>
    public async Task<SqlResult> ExecuteAsync(string connection, string sql, IReadOnlyList<object> parameters,
        Obligations obligations, CancellationToken cancellationToken, IReadOnlyList<string>? prelude = null, PinnedRun? pinned = null)
    {
        if (pinned is not null) return await ExecutePinnedAsync(connection, sql, parameters, obligations, pinned, prelude, cancellationToken);
        var source = await DataSource(connection, cancellationToken);
        await using var database = await source.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await database.BeginTransactionAsync(cancellationToken);
            await PrepareTransactionAsync(connection, database, transaction, obligations, cancellationToken);
            foreach (var setting in prelude ?? []) await Run(database, transaction, setting, cancellationToken);
            var result = await ReadAsync(connection, database, transaction, sql, parameters, obligations, cancellationToken);
            // The agent's SQL never commits unless it is allowed to write; a read-only transaction commits nothing anyway.
            await transaction.CommitAsync(cancellationToken);
            return result;
        }
        finally
        {
            await ForgetAgentStatementsAsync(connection, database);
        }
    }

    /// <summary>
    /// Drops the prepared statements the agent's SQL left on the connection before it goes back to the pool. PREPARE outlives
    /// the transaction, and Npgsql's reset of a pooled connection leaves prepared statements alone while the connection holds
    /// statements Npgsql prepared (the guard's): an agent's statement would be there for the next request of any identity to
    /// read in pg_prepared_statements (its text too) or to collide with. Whatever made it (PREPARE in any spelling, a DO
    /// block's EXECUTE of built text, a function the agent calls), PostgreSQL marks it from_sql, which none of Npgsql's own
    /// (protocol-level) statements is: so the gateway asks the server rather than guessing from the text. The rest of the
    /// session's state (settings, cursors, LISTEN, advisory locks, temporary objects) is Npgsql's reset's, which runs
    /// before the connection's next statement. A connection that cannot be checked or cleaned is closed, not pooled.
    /// </summary>
    private async Task ForgetAgentStatementsAsync(string connection, NpgsqlConnection database)
    {
        if (database.FullState != System.Data.ConnectionState.Open) return; // broken: Npgsql does not pool it
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            bool left;
            try
            {
                await using var check = new NpgsqlCommand(LeftStatements, database);
                // Prepared once per physical connection (Npgsql finds it again by its text): no planning per statement.
                await check.PrepareAsync(deadline.Token);
                left = (bool)(await check.ExecuteScalarAsync(deadline.Token))!;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidSqlStatementName)
            {
                left = true; // the agent's DEALLOCATE took Npgsql's own statements (this check's among them)
            }
            if (left) database.UnprepareAll(); // DEALLOCATE ALL, and Npgsql forgets its own; no async form; rare
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException or OperationCanceledException)
        {
            logger.LogWarning("A connection to {Connection} could not be checked for prepared statements an agent left ({Reason}); it is closed instead of pooled",
                connection, ex.GetType().Name);
            NpgsqlConnection.ClearPool(database);
        }
    }

    /// <summary>Named in pg_catalog: the agent's search_path holds on the connection until Npgsql's reset.</summary>
    private const string LeftStatements =
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_prepared_statements WHERE from_sql)";

    /// <summary>
    /// A statement of a wire session's transaction, on its pinned connection. Transaction control (BEGIN, COMMIT,
    /// SAVEPOINT...) runs as the agent sent it and policy judged it. Any other statement runs after the session's settings
    /// and then the gateway's guard, which comes last so that nothing the agent ran before (SET LOCAL, SET TRANSACTION,
    /// ROLLBACK TO a savepoint, BEGIN READ WRITE) can lift it: the statement's timeout, the masked-view check, and read-only
    /// for this statement and, once one read-only statement ran in the transaction, for every statement after it.
    /// </summary>
    private async Task<SqlResult> ExecutePinnedAsync(string connection, string sql, IReadOnlyList<object> parameters,
        Obligations obligations, PinnedRun pinned, IReadOnlyList<string>? prelude, CancellationToken cancellationToken)
    {
        var held = pinned.Connection;
        if (held.Connection != connection) throw new InvalidOperationException("A pinned connection serves one connection only.");
        if (held.Database is null)
        {
            var source = await DataSource(connection, cancellationToken);
            held.Database = await source.OpenConnectionAsync(cancellationToken);
        }
        var database = held.Database;
        if (pinned.Control)
        {
            await Run(database, null, sql, cancellationToken);
            return new SqlResult([]);
        }
        foreach (var setting in prelude ?? []) await Run(database, null, setting, cancellationToken);
        // Sticky from here on, whatever this statement does, even if it fails.
        if (obligations.ReadOnly) held.ReadOnly = true;
        await GuardAsync(connection, database, null, obligations, held.ReadOnly, pinned: true, cancellationToken);
        return await ReadAsync(connection, database, null, sql, parameters, obligations, cancellationToken);
    }

    private async Task<SqlResult> ReadAsync(string connection, NpgsqlConnection database, NpgsqlTransaction? transaction,
        string sql, IReadOnlyList<object> parameters, Obligations obligations, CancellationToken cancellationToken)
    {
        var maxRows = obligations.MaxRows ?? DefaultMaxRows;
        var results = new List<ResultSet>();
        var columnsSeen = new List<(uint, short)>();
        var recordsAffected = -1;
        // Every value comes back in PostgreSQL's text form, whatever its type (regclass, tsvector, intervals with
        // months, NaN, dates past 9999...), and SqlValues gives JSON types to the few that have one: a type the
        // driver cannot read is never an error, and no value is read as something it is not.
        await using (var command = new NpgsqlCommand(sql, database, transaction) { AllResultTypesAreUnknown = true })
        {
            // A parameter the caller typed itself (the wire listener's, sent as PostgreSQL's text form) is bound as given.
            foreach (var parameter in parameters)
                command.Parameters.Add(parameter as NpgsqlParameter ?? new NpgsqlParameter { Value = parameter });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            var rowsLeft = maxRows;
            do
            {
                if (reader.FieldCount == 0) continue;
                var schema = reader.GetColumnSchema(); // from the row description: no extra round trip
                var types = schema.Select(c => c.TypeOID).ToArray();
                var rows = new List<object?[]>();
                var truncated = false;
                while (await reader.ReadAsync(cancellationToken))
                {
                    if (rowsLeft == 0) { truncated = true; break; }
                    var row = new object?[reader.FieldCount];
                    for (var i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : SqlValues.FromText(types[i], reader.GetString(i));
                    rows.Add(row);
                    rowsLeft--;
                }
                columnsSeen.AddRange(schema.Select(c => (c.TableOID, (short)(c.ColumnAttributeNumber ?? 0))));
                results.Add(new ResultSet(
                    [.. schema.Select(c => new ResultColumn(c.ColumnName, c.DataTypeName, c.TableOID, (short)(c.ColumnAttributeNumber ?? 0),
                        TypeOid: c.TypeOID))],
                    rows, truncated));
            } while (await reader.NextResultAsync(cancellationToken));
            recordsAffected = reader.RecordsAffected;
        }

        await origins.ResolveAsync(connection, database, transaction, columnsSeen, cancellationToken);
        return new SqlResult([.. results.Select(r => r with
        {
            Columns = [.. r.Columns.Select(c => c with { Origin = origins.Get(connection, c.Table, c.Attribute) })],
        })]) { RecordsAffected = recordsAffected };
    }

    /// <summary>A connection of the pool, held by one wire session for the length of its transaction.</summary>
    /// <remarks>
    /// At most <paramref name="limit"/> per connection at once (null when that many are open): each holds one of the pool's
    /// connections for as long as its client keeps the transaction alive, so without a cap a few agents opening
    /// transactions would take the whole pool and every other statement would wait for a connection and fail.
    /// </remarks>
    public PinnedConnection? Pin(string connection, int limit)
    {
        var count = _pinned.AddOrUpdate(connection, 1, (_, n) => n + 1);
        if (count <= limit) return new(connection);
        _pinned.AddOrUpdate(connection, 0, (_, n) => n - 1);
        return null;
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _pinned = new(StringComparer.Ordinal);

    /// <summary>
    /// Takes one of <paramref name="slots"/> places that <paramref name="key"/> (an identity's) has on the upstream database,
    /// for as long as <paramref name="pinned"/> is held: a session advisory lock (key, slot) taken on the pinned connection
    /// before its transaction begins, so every gateway instance sees it, and released with the connection (its DISCARD
    /// ALL, or its closing). False when all are taken.
    /// </summary>
    public async Task<bool> ClaimAsync(PinnedConnection pinned, int key, int slots, CancellationToken cancellationToken)
    {
        if (pinned.Database is null)
        {
            var source = await DataSource(pinned.Connection, cancellationToken);
            pinned.Database = await source.OpenConnectionAsync(cancellationToken);
        }
        // Slots are tried in order and the first free one is taken: the limit stops the scan at the lock it got.
        await using var command = new NpgsqlCommand(
            "SELECT slot FROM generate_series(0, $2 - 1) AS slot WHERE pg_try_advisory_lock($1, slot) LIMIT 1", pinned.Database);
        command.Parameters.AddWithValue(key);
        command.Parameters.AddWithValue(slots);
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }

    /// <summary>
    /// Gives a pinned connection back: whatever state the agent left it in, its transaction is rolled back and the session
    /// reset (its own prepared statements deallocated, then DISCARD ALL) before the pool has it again; a connection that
    /// cannot be cleaned is closed for good rather than pooled.
    /// </summary>
    public async Task ReleaseAsync(PinnedConnection pinned)
    {
        if (Interlocked.Exchange(ref pinned.Released, 1) == 0) _pinned.AddOrUpdate(pinned.Connection, 0, (_, n) => n - 1);
        if (pinned.Database is not { } database) return;
        pinned.Database = null;
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            if (database.FullState == System.Data.ConnectionState.Open)
            {
                await Run(database, null, "ROLLBACK", deadline.Token);
                database.UnprepareAll(); // no async form; DISCARD ALL would otherwise drop them under Npgsql's feet
                await Run(database, null, "DISCARD ALL", deadline.Token);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            logger.LogWarning("A pinned connection to {Connection} could not be reset ({Reason}); it is closed instead of pooled",
                pinned.Connection, ex.GetType().Name);
            NpgsqlConnection.ClearPool(database);
        }
        finally
        {
            await database.DisposeAsync();
        }
    }

    /// <summary>
    /// What a statement takes and returns, without running it: PostgreSQL's parse analysis only (Parse and Describe, and
    /// PREPARE for the parameters' types, which plans nothing and runs nothing), in a read-only transaction that is
    /// rolled back. For the wire listener's Describe of a prepared statement, after policy allowed the statement.
    /// </summary>
    public async Task<SqlDescription> DescribeAsync(string connection, string sql, Obligations obligations,
        CancellationToken cancellationToken, IReadOnlyList<string>? prelude = null, PinnedRun? pinned = null)
    {
        if (pinned is not null) return await DescribePinnedAsync(connection, sql, obligations, pinned.Connection, prelude, cancellationToken);
        var source = await DataSource(connection, cancellationToken);
        await using var database = await source.OpenConnectionAsync(cancellationToken);
        try
        {
            await using var transaction = await database.BeginTransactionAsync(cancellationToken);
            await Run(database, transaction, "SET TRANSACTION READ ONLY", cancellationToken);
            var timeout = obligations.StatementTimeoutMs ?? TimeoutMs(connection);
            if (timeout is { } ms) await Run(database, transaction, $"SET LOCAL statement_timeout = {ms}", cancellationToken);
            foreach (var setting in prelude ?? []) await Run(database, transaction, setting, cancellationToken);
            var description = await DescribeOnAsync(database, transaction, sql, cancellationToken);
            await transaction.RollbackAsync(cancellationToken);
            return description;
        }
        finally
        {
            // A describe that failed between its PREPARE and DEALLOCATE leaves the agent's statement text behind.
            await ForgetAgentStatementsAsync(connection, database);
        }
    }

    /// <summary>
    /// A describe inside a wire session's open transaction, on its pinned connection, so that it sees what the transaction
    /// made (its tables, temporary ones included, and its settings): within a savepoint that is rolled back whatever
    /// happens, so the settings and timeout set for it do not stay, and a statement the database refuses does not abort
    /// the transaction upstream (the gateway fails it, as PostgreSQL fails a transaction whose Parse failed).
    /// </summary>
    private async Task<SqlDescription> DescribePinnedAsync(string connection, string sql, Obligations obligations, PinnedConnection held,
        IReadOnlyList<string>? prelude, CancellationToken cancellationToken)
    {
        if (held.Connection != connection || held.Database is not { } database)
            throw new InvalidOperationException("A describe in a transaction runs on the transaction's open connection only.");
        await Run(database, null, "SAVEPOINT portcullis_describe", cancellationToken);
        try
        {
            if ((obligations.StatementTimeoutMs ?? TimeoutMs(connection)) is { } ms)
                await Run(database, null, $"SET LOCAL statement_timeout = {ms}", cancellationToken);
            foreach (var setting in prelude ?? []) await Run(database, null, setting, cancellationToken);
            return await DescribeOnAsync(database, null, sql, cancellationToken);
        }
        finally
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await Run(database, null, "ROLLBACK TO SAVEPOINT portcullis_describe; RELEASE SAVEPOINT portcullis_describe", deadline.Token);
        }
    }

    private static async Task<SqlDescription> DescribeOnAsync(NpgsqlConnection database, NpgsqlTransaction? transaction, string sql,
        CancellationToken cancellationToken)
    {
        var columns = new List<ResultColumn>();
        await using (var command = new NpgsqlCommand(sql, database, transaction) { AllResultTypesAreUnknown = true })
        await using (var reader = await command.ExecuteReaderAsync(System.Data.CommandBehavior.SchemaOnly, cancellationToken))
            if (reader.FieldCount > 0)
                columns.AddRange(reader.GetColumnSchema().Select(c => new ResultColumn(c.ColumnName, c.DataTypeName, c.TableOID,
                    (short)(c.ColumnAttributeNumber ?? 0), TypeOid: c.TypeOID)));

        uint[] parameters = [];
        if (sql.Contains('$'))
        {
            // Only statements PREPARE takes can have parameters; the name is the gateway's, dropped once read.
            // PREPARE outlives a rolled-back transaction: a name of its own per describe, so one that failed half-way
            // cannot make the next describe on this pooled connection fail with "already exists".
            var name = "portcullis_describe_" + Guid.NewGuid().ToString("N");
            await Run(database, transaction, $"PREPARE {name} AS " + sql, cancellationToken);
            await using var types = new NpgsqlCommand(
                $"SELECT parameter_types::pg_catalog.oid[] FROM pg_catalog.pg_prepared_statements WHERE name OPERATOR(pg_catalog.=) '{name}'",
                database, transaction); // after the agent's settings: named in pg_catalog, as the masked-view check is
            parameters = (uint[])(await types.ExecuteScalarAsync(cancellationToken))!;
            await Run(database, transaction, $"DEALLOCATE {name}", cancellationToken);
        }
        return new SqlDescription(parameters, columns);
    }

    private int? TimeoutMs(string connection) =>
        config.Connections[connection].Timeout is { } text && DurationText.TryParse(text, out var duration)
            ? (int)Math.Min(duration.TotalMilliseconds, int.MaxValue)
            : null;

    /// <summary>
    /// Why <paramref name="relations"/> may not be read on <paramref name="maskedFor"/> (a view over one of its masked
    /// columns), read from the catalogue of the postgres connection <paramref name="catalogue"/>, or null: the masked-view
    /// check of a statement, for SQL another server runs on that database (an MCP connection's SQL tool).
    /// </summary>
    public async Task<string?> MaskedViewRefusalAsync(string catalogue, string maskedFor, IReadOnlyList<string> relations,
        CancellationToken cancellationToken)
    {
        if (maskedViews.Query(maskedFor, relations) is not { } check) return null;
        var source = await DataSource(catalogue, cancellationToken);
        await using var database = await source.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(database) { BatchCommands = { check } };
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return await maskedViews.RefusalAsync(maskedFor, reader, cancellationToken);
    }

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
        // The agent's SQL is the customer's data (literals, values in errors): no Npgsql span for it at all, traced or not.
        var source = new NpgsqlDataSourceBuilder(builder.ConnectionString)
            .ConfigureTracing(tracing => tracing.ConfigureCommandFilter(_ => false).ConfigureBatchFilter(_ => false)
                .ConfigureCopyOperationFilter(_ => false).EnablePhysicalOpenTracing(false))
            .Build();
        if (!_sources.TryAdd(connection, source)) await source.DisposeAsync();
        logger.LogInformation("Connection {Connection} opened a pool to {Target}", connection, Describe(connection));
        return _sources[connection];
    }

    /// <summary>
    /// The obligations' settings and the masked-view check, in one round trip before the statement (BEGIN, which
    /// Npgsql sends with the first command, included): each was a round trip of its own. Throws
    /// <see cref="MaskedViewException"/> when the statement reads a view over a masked column.
    /// </summary>
    private static async Task Run(NpgsqlConnection database, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, database, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private Task PrepareTransactionAsync(string connection, NpgsqlConnection database, NpgsqlTransaction transaction,
        Obligations obligations, CancellationToken cancellationToken) =>
        GuardAsync(connection, database, transaction, obligations, obligations.ReadOnly, pinned: false, cancellationToken);

    /// <summary>
    /// The obligations' settings and the masked-view check before a statement. In a transaction of the statement's own,
    /// read-only and a timeout are set when obliged. In a pinned transaction every statement sets its own timeout (or
    /// goes back to the default, so an earlier statement's does not linger), and read-only is set again before each
    /// statement once it was obliged: setting read-only is always allowed, and PostgreSQL refuses to go back to read-write
    /// after the transaction's first snapshot or inside a savepoint, which a query in the same batch takes.
    /// </summary>
    private async Task GuardAsync(string connection, NpgsqlConnection database, NpgsqlTransaction? transaction,
        Obligations obligations, bool readOnly, bool pinned, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(database, transaction);
        if (pinned)
        {
            // SET LOCAL and SET TRANSACTION only warn outside a transaction block: should anything have ended the pinned
            // transaction upstream without the gateway knowing, this fails (25P01) instead of the guard not holding.
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SAVEPOINT portcullis_guard"));
            batch.BatchCommands.Add(new NpgsqlBatchCommand("RELEASE SAVEPOINT portcullis_guard"));
        }
        if (readOnly) batch.BatchCommands.Add(new NpgsqlBatchCommand("SET TRANSACTION READ ONLY"));
        if ((obligations.StatementTimeoutMs ?? TimeoutMs(connection)) is { } ms)
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"SET LOCAL statement_timeout = {ms}"));
        else if (pinned)
            batch.BatchCommands.Add(new NpgsqlBatchCommand("SET LOCAL statement_timeout TO DEFAULT"));
        var check = maskedViews.Query(connection, obligations.Relations);
        if (check is not null) batch.BatchCommands.Add(check);
        else if (pinned && readOnly) batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT 1")); // the transaction's first snapshot
        if (batch.BatchCommands.Count == 0) return;
        // Prepared once per pooled connection (Npgsql keeps prepared statements across its reset), so the catalogue
        // query is not planned again for every statement: planning it cost about 0.8 ms of PostgreSQL's CPU each time.
        try
        {
            await batch.PrepareAsync(cancellationToken);
            // The SET commands return no rows: the reader stands on the check's result, the only one with rows.
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            if (check is not null && await maskedViews.RefusalAsync(connection, reader, cancellationToken) is { } refusal)
                throw new MaskedViewException(refusal);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.InvalidSqlStatementName)
        {
            // An agent's DEALLOCATE (the policy refuses it on read-only or time-limited connections, not on others)
            // dropped the prepared statements of this pooled connection, which Npgsql still counts as prepared: this
            // request fails (nothing of it ran), and the connection forgets them, so the next request prepares afresh
            // instead of failing the same way. (ClearPool does not do it: the connection goes back to the pool.)
            if (transaction is not null) await transaction.RollbackAsync(cancellationToken);
            database.UnprepareAll(); // no async form; a rare path
            throw;
        }
    }

    /// <summary>
    /// The parameters as canonical JSON (compact, one value each in the form it is bound), or null when there are
    /// none: what policy, the audit and an approval see of them. Throws <see cref="FormatException"/> for a value
    /// that cannot be written (text that is not valid Unicode).
    /// </summary>
    public static string? CanonicalParameters(IReadOnlyList<object> values)
    {
        if (values.Count == 0) return null;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        try
        {
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartArray();
                foreach (var value in values)
                {
                    switch (value)
                    {
                        case string text: writer.WriteStringValue(text); break;
                        case long integer: writer.WriteNumberValue(integer); break;
                        case decimal number: writer.WriteNumberValue(number); break;
                        case bool flag: writer.WriteBooleanValue(flag); break;
                        default: writer.WriteNullValue(); break;
                    }
                }
                writer.WriteEndArray();
            }
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException or InvalidOperationException)
        {
            throw new FormatException("A parameter is not a value PostgreSQL can be given (text that is not valid Unicode).", ex);
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>PostgreSQL's limit on the parameters of one statement.</summary>
    public const int MaxParameters = 65_535;

    /// <summary>
    /// The value a JSON parameter is sent as, or why it cannot be sent (a number beyond a 64-bit integer or a
    /// 28-digit decimal, which the agent can send as a string and cast in SQL).
    /// </summary>
    public static bool TryParameterValue(JsonElement value, out object parameter, out string? error)
    {
        error = null;
        if (value.ValueKind == JsonValueKind.String && !IsText(value))
        {
            parameter = DBNull.Value;
            error = "The string has a lone surrogate escape (\\ud800...), which is not text: send valid Unicode.";
            return false;
        }
        parameter = value.ValueKind switch
        {
            JsonValueKind.String => value.GetString()!,
            JsonValueKind.Number when value.TryGetInt64(out var integer) => integer,
            JsonValueKind.Number when value.TryGetDecimal(out var number) => number,
            JsonValueKind.Number => DBNull.Value,
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => DBNull.Value,
            _ => value.GetRawText(),
        };
        if (value.ValueKind == JsonValueKind.Number && parameter is DBNull)
            error = $"The number {Shorten(value.GetRawText())} is out of range for a parameter (64-bit integers and decimals " +
                    "of up to 28 digits): send it as a string and cast it in SQL, e.g. $1::numeric.";
        return error is null;
    }

    private static bool IsText(JsonElement value)
    {
        try
        {
            _ = value.GetString();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false; // System.Text.Json's refusal of a lone surrogate
        }
    }

    private static string Shorten(string text) => text.Length > 40 ? text[..40] + "…" : text;
}

/// <summary>
/// A connection held by one wire session while its transaction is open (opened by its first statement, the BEGIN).
/// <see cref="ReadOnly"/>: a read-only statement ran in the transaction, so every later one runs read-only too.
/// </summary>
public sealed class PinnedConnection(string connection)
{
    public string Connection { get; } = connection;
    internal NpgsqlConnection? Database { get; set; }
    public bool ReadOnly { get; internal set; }
    internal int Released;
}

/// <summary>
/// A statement to run on a pinned connection. <paramref name="Control"/>: transaction control (BEGIN, COMMIT, ROLLBACK,
/// SAVEPOINT, RELEASE, ROLLBACK TO), run as the wire listener rebuilt it, without settings or guard.
/// </summary>
public sealed record PinnedRun(PinnedConnection Connection, bool Control);

public sealed record SqlResult(IReadOnlyList<ResultSet> Results)
{
    /// <summary>Rows inserted, updated or deleted by the statements (-1 when none of them changes rows).</summary>
    public int RecordsAffected { get; init; } = -1;
}

/// <summary>A statement's parameter types and result columns, as PostgreSQL describes them before it runs.</summary>
public sealed record SqlDescription(IReadOnlyList<uint> ParameterTypes, IReadOnlyList<ResultColumn> Columns);

public sealed record ResultSet(IReadOnlyList<ResultColumn> Columns, IReadOnlyList<object?[]> Rows, bool Truncated);

public sealed record ResultColumn(string Name, string Type, uint Table, short Attribute, string? Origin = null, uint TypeOid = 0);
