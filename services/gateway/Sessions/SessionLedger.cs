using System.Security.Claims;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Npgsql;
using Portcullis.Gateway.Problems;

namespace Portcullis.Gateway.Sessions;

/// <summary>The identity a session belongs to: the token's issuer and subject.</summary>
public sealed record SessionOwner(string Issuer, string Subject)
{
    public static SessionOwner Of(ClaimsPrincipal user)
    {
        var subject = user.FindFirst("sub") ?? throw new InvalidOperationException("The token has no 'sub' claim.");
        return new(user.FindFirst("iss")?.Value ?? subject.Issuer, subject.Value);
    }
}

/// <summary>
/// Who owns each session, and how many requests it has had: the table <c>gateway.sessions</c> in PostgreSQL, shared
/// by every gateway instance and kept across restarts. The first request naming a session claims it for its
/// identity; a request of another identity naming it is refused. Each request of the owner takes the session's next
/// sequence number (1, 2, 3...) in the same statement, which the gateway stamps on its <c>RequestReceived</c>, so
/// the audit can tell a missing request. One short statement a request; owners are cached, since they never change.
/// </summary>
public sealed class SessionLedger : IDisposable
{
    public const string Schema = "gateway";

    private const string CreateTable = """
        CREATE SCHEMA IF NOT EXISTS gateway;
        CREATE TABLE IF NOT EXISTS gateway.sessions (
            session_id    text PRIMARY KEY,
            issuer        text NOT NULL,
            subject       text NOT NULL,
            opened_at     timestamptz NOT NULL DEFAULT now(),
            last_sequence bigint NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS gateway.voided_sequences (
            session_id text NOT NULL,
            sequence   bigint NOT NULL,
            request_id uuid NOT NULL,
            reason     text NOT NULL,
            at         timestamptz NOT NULL,
            PRIMARY KEY (session_id, sequence))
        """;

    // The outbox of numbers spent on refused requests: written at the refusal, published and deleted by the relay.
    private const string Void = """
        INSERT INTO gateway.voided_sequences (session_id, sequence, request_id, reason, at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (session_id, sequence) DO NOTHING
        """;

    // Rows another instance is relaying are skipped, not waited for: each row is published by one instance at a time.
    private const string ClaimVoided = """
        SELECT session_id, sequence, request_id, reason, at FROM gateway.voided_sequences
        ORDER BY at LIMIT $1 FOR UPDATE SKIP LOCKED
        """;

    private const string DeleteVoided = "DELETE FROM gateway.voided_sequences WHERE session_id = $1 AND sequence = $2";

    // Claims a new session, or counts the request when the caller owns it; no row comes back when another identity does.
    private const string ClaimOrCount = """
        INSERT INTO gateway.sessions AS s (session_id, issuer, subject, last_sequence) VALUES ($1, $2, $3, 1)
        ON CONFLICT (session_id) DO UPDATE SET last_sequence = s.last_sequence + 1
            WHERE s.issuer = excluded.issuer AND s.subject = excluded.subject
        RETURNING last_sequence
        """;

    private const string Count = "UPDATE gateway.sessions SET last_sequence = last_sequence + 1 WHERE session_id = $1 RETURNING last_sequence";
    private const string OwnerOf = "SELECT issuer, subject FROM gateway.sessions WHERE session_id = $1";

    private readonly NpgsqlDataSource _database;
    private readonly TimeSpan _checkTimeout;
    private readonly ILogger<SessionLedger> _logger;
    private readonly MemoryCache _owners = new(new MemoryCacheOptions { SizeLimit = 100_000 });
    private volatile bool _tableReady;

    /// <param name="checkTimeout">How long an ownership check may take before the request is refused (the decision timeout).</param>
    public SessionLedger(string connectionString, TimeSpan checkTimeout, ILogger<SessionLedger> logger)
    {
        // No reset on close: the ledger sets no session state, and the reset was one more round trip a request.
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
            { ApplicationName = "portcullis-gateway-sessions", NoResetOnClose = true };
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 8;
        _database = NpgsqlDataSource.Create(builder.ConnectionString);
        _checkTimeout = checkTimeout;
        _logger = logger;
    }

    /// <summary>
    /// The request's sequence number in <paramref name="sessionId"/>, claiming the session for the caller when it is
    /// new. Null when the session belongs to another identity (403) or the table cannot be reached (503): the
    /// refusal is written, and nothing of the request is recorded in the session.
    /// </summary>
    public async Task<long?> ClaimAsync(HttpContext context, string sessionId)
    {
        var caller = SessionOwner.Of(context.User);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(_checkTimeout);
        try
        {
            if (await SequenceAsync(sessionId, caller, deadline.Token) is { } sequence) return sequence;
            _logger.LogWarning("Session {Session}: {Subject} named a session another identity owns; refused", sessionId, caller.Subject);
            await SessionNotOwned(context, sessionId);
            return null;
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            _logger.LogWarning("Session {Session}: ownership could not be checked ({Reason}); refused", sessionId, ex.GetType().Name);
            if (!context.RequestAborted.IsCancellationRequested)
                await SessionsUnavailable(context);
            return null;
        }
    }

    /// <summary>403 at once: the session was opened by another identity, so nothing of this request enters it.</summary>
    private static Task SessionNotOwned(HttpContext context, string sessionId) =>
        ProblemDocument.WriteAsync(context, StatusCodes.Status403Forbidden, "session-not-owned", "Session belongs to another identity",
            $"The session '{sessionId}' was opened by another identity; only that identity can act in it. Nothing was run. " +
            "Use a session id of your own.");

    /// <summary>503 at once: who owns the session cannot be checked, so nothing is run or recorded.</summary>
    private static Task SessionsUnavailable(HttpContext context) =>
        ProblemDocument.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "unavailable", "Gateway cannot check the session right now",
            "The session's owner could not be checked, so nothing was run; retry later.");

    private async Task<long?> SequenceAsync(string sessionId, SessionOwner caller, CancellationToken cancellationToken)
    {
        if (_owners.TryGetValue(sessionId, out SessionOwner? known) && known is not null)
        {
            if (known != caller) return null;
            if (await ScalarAsync(Count, cancellationToken, sessionId) is long counted) return counted;
            // The row is gone (the table was emptied): claim the session again below.
        }
        if (await ScalarAsync(ClaimOrCount, cancellationToken, sessionId, caller.Issuer, caller.Subject) is long claimed)
        {
            Remember(sessionId, caller);
            return claimed;
        }
        await using (var command = _database.CreateCommand(OwnerOf))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = sessionId });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken)) Remember(sessionId, new(reader.GetString(0), reader.GetString(1)));
        }
        return null;
    }

    private void Remember(string sessionId, SessionOwner owner) =>
        _owners.Set(sessionId, owner, new MemoryCacheEntryOptions { Size = 1 });

    private async Task<object?> ScalarAsync(string sql, CancellationToken cancellationToken, params object[] values)
    {
        if (!_tableReady) await EnsureTableAsync(cancellationToken);
        try
        {
            return await RunAsync(sql, cancellationToken, values);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            // Dropped while we ran (a database reset): create it again, once.
            _tableReady = false;
            await EnsureTableAsync(cancellationToken);
            return await RunAsync(sql, cancellationToken, values);
        }
    }

    private async Task<object?> RunAsync(string sql, CancellationToken cancellationToken, object[] values)
    {
        await using var command = _database.CreateCommand(sql);
        foreach (var value in values) command.Parameters.Add(new NpgsqlParameter { Value = value });
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>
    /// Records that the request's sequence number was spent on a refusal before its <c>RequestReceived</c> was
    /// confirmed, so the audit can account for the number once the broker takes the relayed
    /// <see cref="Portcullis.Contracts.RequestSequenceVoided"/>. Not bound to the request (the agent may be gone): a
    /// deadline of its own. Returns false when PostgreSQL cannot take it either; the number then stays a gap.
    /// </summary>
    public async Task<bool> VoidAsync(string sessionId, long sequence, Guid requestId, string reason, DateTimeOffset at)
    {
        using var deadline = new CancellationTokenSource(_checkTimeout);
        try
        {
            await ScalarAsync(Void, deadline.Token, sessionId, sequence, requestId, reason, at);
            return true;
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            _logger.LogError("Session {Session}: sequence number {Sequence} of refused request {RequestId} could not be voided ({Reason}); " +
                             "the audit will report it missing", sessionId, sequence, requestId, ex.GetType().Name);
            return false;
        }
    }

    /// <summary>
    /// Takes up to <paramref name="limit"/> voided numbers no other instance holds, hands them to
    /// <paramref name="publish"/>, and deletes them only when it returns (the publish confirmed); when it throws, the
    /// rows stay for the next attempt. Returns how many were relayed.
    /// </summary>
    public async Task<int> RelayVoidedAsync(int limit, Func<IReadOnlyList<VoidedSequence>, CancellationToken, Task> publish,
        CancellationToken cancellationToken)
    {
        if (!_tableReady) await EnsureTableAsync(cancellationToken);
        await using var connection = await _database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var claimed = new List<VoidedSequence>();
        await using (var select = new NpgsqlCommand(ClaimVoided, connection, transaction))
        {
            select.Parameters.Add(new NpgsqlParameter { Value = limit });
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
                claimed.Add(new VoidedSequence(reader.GetString(0), reader.GetInt64(1), reader.GetGuid(2), reader.GetString(3),
                    reader.GetFieldValue<DateTimeOffset>(4)));
        }
        if (claimed.Count == 0) return 0;
        await publish(claimed, cancellationToken);
        foreach (var voided in claimed)
        {
            await using var delete = new NpgsqlCommand(DeleteVoided, connection, transaction);
            delete.Parameters.Add(new NpgsqlParameter { Value = voided.SessionId });
            delete.Parameters.Add(new NpgsqlParameter { Value = voided.Sequence });
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return claimed.Count;
    }

    /// <summary>Creates the schema and table when they are missing (at start, and again if they disappear).</summary>
    public async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var command = _database.CreateCommand(CreateTable);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable
                                               or PostgresErrorCodes.DuplicateSchema)
        {
            // Another gateway instance created it at the same moment.
        }
        _tableReady = true;
    }

    public void Dispose()
    {
        _owners.Dispose();
        _database.Dispose();
    }
}

/// <summary>A session sequence number spent on a request refused before its RequestReceived was confirmed.</summary>
public sealed record VoidedSequence(string SessionId, long Sequence, Guid RequestId, string Reason, DateTimeOffset At);

/// <summary>Creates the session table when the gateway starts; when PostgreSQL is not there yet, the first request does.</summary>
public sealed class SessionTableSetup(SessionLedger ledger, ILogger<SessionTableSetup> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await ledger.EnsureTableAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            logger.LogWarning("The session table could not be created at start ({Reason}); the first request will try again",
                ex.GetType().Name);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
