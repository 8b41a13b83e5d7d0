using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using MassTransit;
using Npgsql;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Gateway.Sessions;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// One client connection on the PostgreSQL port, in the protocol's order: startup (SSLRequest answered with the
/// configured certificate, GSSENCRequest refused, CancelRequest honoured), the access token as cleartext password,
/// then simple and extended queries. Every statement is one agent action through <see cref="WireStatements"/>; the
/// gateway answers only what is its own (<c>SET portcullis.approval</c>, <c>SHOW portcullis.*</c>), and never runs
/// anything for a connection that has not authenticated. BEGIN pins one upstream connection to the session for a real
/// transaction (<see cref="WireTransaction"/>), given back at COMMIT or ROLLBACK, after an idle-in-transaction limit, or
/// when the connection ends.
/// </summary>
internal sealed partial class WireConnection(IDuplexPipe transport, IPAddress? remote, X509Certificate2? certificate,
    PostgresWireOptions options, WireStatements statements, WireAuthenticator authenticator, WireCancellation cancellation,
    PostgresConnector postgres, ILogger logger, CancellationToken closed) : IAsyncDisposable
{
    private const byte Idle = (byte)'I';
    private IDuplexPipe _pipe = transport;
    private SslStream? _tls;
    private readonly BackendWriter _out = new();
    private WireSession? _session;
    private int _processId;
    private bool _skipUntilSync;
    private readonly Dictionary<string, PreparedStatement> _prepared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Portal> _portals = new(StringComparer.Ordinal);
    private readonly WireTransaction _transaction = new();
    /// <summary>Messages read ahead (to learn whether more statements come before the Sync), handled before any new one.</summary>
    private readonly List<FrontendMessage> _ahead = [];
    private DateTimeOffset _transactionEnds;

    /// <summary>A parsed statement; <paramref name="Described"/>: the columns a Describe announced, which its portals must keep.</summary>
    private sealed record PreparedStatement(string Sql, uint[] ParameterTypes, IReadOnlyList<WireResultColumn>? Described = null);

    private sealed class Portal(PreparedStatement statement, string?[] parameters, short[] resultFormats)
    {
        public PreparedStatement Statement { get; } = statement;
        public string?[] Parameters { get; } = parameters;
        public short[] ResultFormats { get; } = resultFormats;
        public WireOutcome? Outcome { get; set; }
        public int Sent { get; set; }
    }

    public async Task RunAsync()
    {
        using (var startup = CancellationTokenSource.CreateLinkedTokenSource(closed))
        {
            startup.CancelAfter(options.StartupTimeout);
            try
            {
                if (!await StartupAsync(startup.Token)) return;
            }
            catch (WireProtocolException ex)
            {
                await FatalAsync(ex.SqlState, ex.Message);
                return;
            }
        }
        try
        {
            await QueriesAsync();
        }
        catch (WireProtocolException ex)
        {
            await FatalAsync(ex.SqlState, ex.Message);
        }
    }

    // ---- startup ----

    private async Task<bool> StartupAsync(CancellationToken cancellationToken)
    {
        Dictionary<string, string> parameters;
        while (true)
        {
            var message = await ReadAsync(startup: true, cancellationToken);
            if (message is null) return false;
            var payload = message.Payload;
            var code = BinaryPrimitives.ReadInt32BigEndian(payload);
            if (code == WireCodec.SslRequestCode && payload.Length == 4)
            {
                if (_tls is not null) throw new WireProtocolException(WireErrors.ProtocolViolation, "SSLRequest over TLS.");
                if (certificate is null)
                {
                    _out.Raw((byte)'N');
                    await FlushAsync();
                    continue;
                }
                // Bytes sent after the SSLRequest before the answer would bypass TLS (CVE-2021-23214): refused.
                if (_pipe.Input.TryRead(out var early))
                {
                    var pending = early.Buffer.Length;
                    _pipe.Input.AdvanceTo(early.Buffer.Start);
                    if (pending > 0) throw new WireProtocolException(WireErrors.ProtocolViolation, "Received unencrypted data after SSL request.");
                }
                _out.Raw((byte)'S');
                await FlushAsync();
                _tls = new SslStream(new DuplexPipeStream(_pipe), leaveInnerStreamOpen: false);
                await _tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate },
                    cancellationToken);
                _pipe = new StreamPipe(_tls);
                continue;
            }
            if (code == WireCodec.GssEncRequestCode && payload.Length == 4)
            {
                _out.Raw((byte)'N');
                await FlushAsync();
                continue;
            }
            if (code == WireCodec.CancelRequestCode && payload.Length == 12)
            {
                var cancelled = cancellation.Cancel(BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(4)),
                    BinaryPrimitives.ReadInt32BigEndian(payload.AsSpan(8)));
                logger.LogInformation("PostgreSQL wire: a cancel request {Outcome}", cancelled ? "cancelled a statement" : "matched nothing");
                return false;
            }
            if (code >> 16 != 3)
                throw new WireProtocolException(WireErrors.FeatureNotSupported,
                    $"Unsupported frontend protocol {code >> 16}.{code & 0xffff}: the gateway speaks protocol 3.0.");
            parameters = StartupParameters(payload);
            if ((code & 0xffff) != 0) NegotiateProtocolVersion(parameters);
            break;
        }

        if (!parameters.TryGetValue("user", out var user) || user.Length == 0)
            throw new WireProtocolException(WireErrors.InvalidAuthorization, "No PostgreSQL user name specified in startup packet.");
        var database = parameters.GetValueOrDefault("database") is { Length: > 0 } named ? named : user;
        if (_tls is null && !(options.AllowLoopbackPlaintext && remote is not null && IPAddress.IsLoopback(remote)))
        {
            await FatalAsync(WireErrors.InvalidAuthorization,
                "The password (an access token) is taken only over TLS: connect with sslmode=require.");
            return false;
        }
        var sessionId = SessionOf(parameters);
        if (sessionId.Error is not null)
        {
            await FatalAsync("22023", sessionId.Error);
            return false;
        }

        _out.AuthenticationCleartextPassword();
        await FlushAsync();
        var password = await ReadAsync(startup: false, cancellationToken);
        if (password is null) return false;
        if (password.Type != (byte)'p') throw new WireProtocolException(WireErrors.ProtocolViolation, "Expected a password message.");
        var token = new PayloadReader(password.Payload).CString();
        var (principal, refusal) = await authenticator.AuthenticateAsync(token);
        if (principal is null)
        {
            logger.LogInformation("PostgreSQL wire: authentication refused for user {User} from {Remote}", Printable(user), remote);
            await FatalAsync(WireErrors.InvalidPassword, refusal!);
            return false;
        }
        if (!postgres.Has(database))
        {
            await FatalAsync("3D000", $"database \"{Printable(database)}\" does not exist: the database name is the name of a postgres connection of the gateway.");
            return false;
        }

        _session = new WireSession(principal, token, database, sessionId.Id!, remote);
        (_processId, var secret) = cancellation.Register();
        logger.LogInformation("PostgreSQL wire: {Subject} (user {User}) connected to {Connection}, session {Session}",
            principal.FindFirst("sub")?.Value, Printable(user), database, _session.SessionId);
        _out.AuthenticationOk();
        foreach (var (name, value) in new Dictionary<string, string>
                 {
                     ["server_version"] = options.ServerVersion,
                     ["server_encoding"] = "UTF8",
                     ["client_encoding"] = "UTF8",
                     ["DateStyle"] = "ISO, MDY",
                     ["IntervalStyle"] = "postgres",
                     ["TimeZone"] = "UTC",
                     ["integer_datetimes"] = "on",
                     ["standard_conforming_strings"] = "on",
                     ["is_superuser"] = "off",
                     ["session_authorization"] = Printable(user),
                     ["application_name"] = Printable(parameters.GetValueOrDefault("application_name") ?? ""),
                     ["portcullis.session"] = _session.SessionId,
                 })
            _out.ParameterStatus(name, value);
        _out.BackendKeyData(_processId, secret);
        _out.ReadyForQuery(Idle);
        await FlushAsync();
        return true;
    }

    private static Dictionary<string, string> StartupParameters(byte[] payload)
    {
        var reader = new PayloadReader(payload.AsSpan(4));
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            var name = reader.CString();
            if (name.Length == 0) break;
            parameters[name] = reader.CString();
        }
        return parameters;
    }

    private void NegotiateProtocolVersion(Dictionary<string, string> parameters)
    {
        var unknown = parameters.Keys.Where(k => k.StartsWith("_pq_.", StringComparison.Ordinal)).ToArray();
        var message = new ArrayBufferWriter<byte>();
        // 'v': the newest minor version the gateway speaks (0), and the protocol options it did not recognise.
        var body = new List<byte>();
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, WireCodec.ProtocolVersion3);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), unknown.Length);
        body.AddRange(header);
        foreach (var option in unknown) body.AddRange([.. System.Text.Encoding.UTF8.GetBytes(option), 0]);
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, body.Count + 4);
        _out.Raw((byte)'v');
        foreach (var b in length) _out.Raw(b);
        foreach (var b in body) _out.Raw(b);
    }

    /// <summary>
    /// The audit session: <c>options=-c portcullis.session=ID</c> (or a startup parameter <c>portcullis.session</c>),
    /// checked as X-Session-Id is; otherwise one new session for this connection.
    /// </summary>
    private static (string? Id, string? Error) SessionOf(Dictionary<string, string> parameters)
    {
        var named = parameters.GetValueOrDefault("portcullis.session");
        if (parameters.GetValueOrDefault("options") is { } text && SessionOption().Match(text) is { Success: true } match)
            named = match.Groups[1].Value;
        if (named is null) return ("pg-" + NewId.NextGuid().ToString("N"), null);
        var probe = new DefaultHttpContext();
        probe.Request.Headers[SessionResolver.SessionHeader] = named;
        var resolved = new SessionResolver().Resolve(probe);
        return resolved.SessionId is null
            ? (null, resolved.Error!.Replace(SessionResolver.SessionHeader, "portcullis.session", StringComparison.Ordinal))
            : (resolved.SessionId, null);
    }

    [GeneratedRegex(@"(?:^|\s)(?:-c\s*|--)portcullis\.session=(\S*)")]
    private static partial Regex SessionOption();

    private static string Printable(string text) => text.Length > 64 ? text[..64] : text;

    // ---- queries ----

    private async Task QueriesAsync()
    {
        while (true)
        {
            var message = await NextMessageAsync();
            if (message is null || message.Type == (byte)'X') return;
            if (_skipUntilSync && message.Type != (byte)'S') continue;
            switch ((char)message.Type)
            {
                case 'Q': await SimpleQueryAsync(message.Payload); break;
                case 'P': Parse(message.Payload); break;
                case 'B': Bind(message.Payload); break;
                case 'D': await DescribeAsync(message.Payload); break;
                case 'E': await ExecuteAsync(message.Payload); break;
                case 'C': Close(message.Payload); break;
                case 'H': await FlushAsync(); break;
                case 'S':
                    _skipUntilSync = false;
                    _portals.Remove("");
                    // Sync ends the implicit transaction of the statements since the last one, as PostgreSQL commits at Sync.
                    if (_transaction.Implicit)
                    {
                        var reported = _transaction.Current == WireTransaction.State.Failed;
                        if (await EndImplicitAsync() is { } unended && !reported) _out.Error(unended);
                    }
                    _out.ReadyForQuery(_transaction.Status);
                    await FlushAsync();
                    break;
                case 'F':
                    ExtendedError(WireError.Of(WireErrors.FeatureNotSupported, "The function call protocol is not supported; call the function in a statement."));
                    break;
                default:
                    // A password or COPY data outside their phase.
                    throw new WireProtocolException(WireErrors.ProtocolViolation, $"Unexpected message type '{(char)message.Type}'.");
            }
            // An error in the extended protocol is sent at once, as PostgreSQL sends it: a client that asked with Flush
            // (asyncpg's prepare) waits for it, and the Flush that follows is discarded with the rest up to Sync.
            if (_skipUntilSync) await FlushAsync();
        }
    }

    private async Task SimpleQueryAsync(byte[] payload)
    {
        var reader = new PayloadReader(payload);
        var sql = reader.CString();
        var parts = WireSql.Statements(sql);
        if (parts.Count == 0) _out.EmptyQueryResponse();
        // Each statement is one action, judged and run on its own; the first that fails ends the query, as in PostgreSQL.
        // Several statements outside a transaction run in one implicit transaction, as PostgreSQL runs them: all or none.
        var failed = false;
        foreach (var statement in parts)
        {
            if (parts.Count > 1 && _transaction.Current == WireTransaction.State.Idle && TransactionControl.Of(statement).Kind == ControlKind.None
                && (await BeginAsync(ImplicitBegin, implicitly: true)).Error is { } refused)
            {
                _out.Error(refused);
                failed = true;
                break;
            }
            var outcome = await RunAsync(statement, []);
            if (outcome.Error is { } error)
            {
                _out.Error(error);
                failed = true;
                break;
            }
            foreach (var set in outcome.Sets)
            {
                var columns = Columns(set, []);
                _out.RowDescription(columns);
                foreach (var row in set.Rows) _out.DataRow(Encode(row, columns));
                if (set.Truncated) _out.Error(Truncated(set), notice: true);
                _out.CommandComplete(WireSql.CommandTag(statement, set.Rows.Count, true));
            }
            foreach (var notice in outcome.Notices) _out.Error(notice, notice: true);
            if (outcome.Sets.Count == 0)
                _out.CommandComplete(outcome.Tag ?? WireSql.CommandTag(statement, Math.Max(0, outcome.RecordsAffected), false));
        }
        if (_transaction.Implicit && await EndImplicitAsync() is { } unended && !failed) _out.Error(unended);
        _out.ReadyForQuery(_transaction.Status);
        await FlushAsync();
    }

    private static readonly TransactionControl ImplicitBegin = TransactionControl.Of("BEGIN");
    private static readonly TransactionControl ImplicitCommit = TransactionControl.Of("COMMIT");

    /// <summary>
    /// The end of an implicit transaction, an action of the session like the agent's own COMMIT: committed when every
    /// statement in it succeeded, else rolled back (and recorded as the ROLLBACK it is, so the audit says the earlier
    /// statements' writes did not stand). The error of a COMMIT that did not complete, or null.
    /// </summary>
    private async Task<WireError?> EndImplicitAsync() => (await ControlAsync(ImplicitCommit)).Error;

    private void Parse(byte[] payload)
    {
        var reader = new PayloadReader(payload);
        var name = reader.CString();
        var sql = reader.CString();
        var types = new uint[reader.Count(4)];
        for (var i = 0; i < types.Length; i++) types[i] = (uint)reader.Int32();
        if (WireSql.Statements(sql).Count > 1)
        {
            ExtendedError(WireError.Of("42601", "cannot insert multiple commands into a prepared statement"));
            return;
        }
        if (name.Length > 0 && _prepared.ContainsKey(name))
        {
            ExtendedError(WireError.Of("42P05", $"prepared statement \"{Printable(name)}\" already exists"));
            return;
        }
        _prepared[name] = new PreparedStatement(sql, types);
        _out.ParseComplete();
    }

    private void Bind(byte[] payload)
    {
        var reader = new PayloadReader(payload);
        var portal = reader.CString();
        var name = reader.CString();
        var formats = new short[reader.Count(2)];
        for (var i = 0; i < formats.Length; i++) formats[i] = reader.Int16();
        var values = new byte[]?[reader.Count(4)];
        for (var i = 0; i < values.Length; i++) values[i] = reader.Bytes(reader.Int32());
        var resultFormats = new short[reader.Count(2)];
        for (var i = 0; i < resultFormats.Length; i++) resultFormats[i] = reader.Int16();
        if (!_prepared.TryGetValue(name, out var statement))
        {
            ExtendedError(WireError.Of("26000", $"prepared statement \"{Printable(name)}\" does not exist"));
            return;
        }
        if (formats.Length > 1 && formats.Length != values.Length)
        {
            ExtendedError(WireError.Of(WireErrors.ProtocolViolation, $"bind message has {formats.Length} parameter formats but {values.Length} parameters"));
            return;
        }
        var parameters = new string?[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            if (values[i] is not { } value) continue;
            var format = formats.Length == 0 ? 0 : formats.Length == 1 ? formats[0] : formats[i];
            var type = i < statement.ParameterTypes.Length ? statement.ParameterTypes[i] : 0;
            if (format == 0)
            {
                parameters[i] = PayloadReader.Utf8(value);
                continue;
            }
            if (WireValues.FromBinary(type, value, out var error) is not { } text)
            {
                ExtendedError(WireError.Of("22P03", $"Parameter ${i + 1}: {error}."));
                return;
            }
            parameters[i] = text;
        }
        if (portal.Length > 0 && _portals.ContainsKey(portal))
        {
            ExtendedError(WireError.Of("42P03", $"cursor \"{Printable(portal)}\" already exists"));
            return;
        }
        _portals[portal] = new Portal(statement, parameters, resultFormats);
        _out.BindComplete();
    }

    private async Task DescribeAsync(byte[] payload)
    {
        var reader = new PayloadReader(payload);
        var kind = reader.Byte();
        var name = reader.CString();
        if (kind == (byte)'S')
        {
            await DescribeStatementAsync(name);
            return;
        }
        if (kind != (byte)'P') throw new WireProtocolException(WireErrors.ProtocolViolation, "Describe of something that is neither a statement nor a portal.");
        if (!_portals.TryGetValue(name, out var portal))
        {
            ExtendedError(WireError.Of("34000", $"portal \"{Printable(name)}\" does not exist"));
            return;
        }
        // The row description comes from the statement's result, so the portal runs now (once) and Execute sends its rows.
        var outcome = portal.Outcome ??= await RunPortalAsync(name, portal);
        if (outcome.Error is { } error)
        {
            ExtendedError(error);
            return;
        }
        if (outcome.Sets.Count == 0) _out.NoData();
        else _out.RowDescription(Columns(outcome.Sets[0], portal.ResultFormats));
    }

    /// <summary>
    /// Describe of a prepared statement (asyncpg's way, before Bind): its parameter types and result columns, from an
    /// audited, policy-decided describe that only parses the statement upstream. Statements the gateway answers itself
    /// are described by the gateway.
    /// </summary>
    private async Task DescribeStatementAsync(string name)
    {
        if (!_prepared.TryGetValue(name, out var prepared))
        {
            ExtendedError(WireError.Of("26000", $"prepared statement \"{Printable(name)}\" does not exist"));
            return;
        }
        var own = SessionCommands.Describe(prepared.Sql);
        if (own is null && _transaction.Current == WireTransaction.State.Failed)
        {
            ExtendedError(WireError.Of("25P02", "current transaction is aborted, commands ignored until end of transaction block"));
            return;
        }
        if (own is not null)
        {
            _out.ParameterDescription(prepared.ParameterTypes);
            if (own.Count == 0) _out.NoData();
            else _out.RowDescription(Columns(own, []));
            return;
        }
        if (WireSql.Statements(prepared.Sql).Count == 0)
        {
            _out.ParameterDescription(prepared.ParameterTypes);
            _out.NoData();
            return;
        }
        using var statement = CancellationTokenSource.CreateLinkedTokenSource(closed);
        cancellation.Running(_processId, statement);
        WireDescription description;
        try
        {
            description = await statements.DescribeAsync(_session!, prepared.Sql, statement.Token, _transaction.Id,
                _transaction.Pinned is { } pinned ? new PinnedRun(pinned, false) : null);
        }
        catch (OperationCanceledException) when (statement.IsCancellationRequested && !closed.IsCancellationRequested)
        {
            description = new WireDescription([], null, WireError.Of("57014", "canceling statement due to user request"));
        }
        finally
        {
            cancellation.Running(_processId, null);
        }
        if (description.Error is { } error)
        {
            _transaction.Fail(); // as PostgreSQL fails a transaction whose statement it could not parse
            ExtendedError(error);
            return;
        }
        // The types the client declared in Parse stand; the others are the ones PostgreSQL inferred.
        var types = new uint[Math.Max(prepared.ParameterTypes.Length, description.ParameterTypes.Count)];
        for (var i = 0; i < types.Length; i++)
            types[i] = i < prepared.ParameterTypes.Length && prepared.ParameterTypes[i] != 0 ? prepared.ParameterTypes[i]
                : i < description.ParameterTypes.Count ? description.ParameterTypes[i] : 0;
        _prepared[name] = prepared with { ParameterTypes = types, Described = description.Columns };
        _out.ParameterDescription(types);
        if (description.Columns is null) _out.NoData();
        else _out.RowDescription(Columns(description.Columns, []));
    }

    private async Task ExecuteAsync(byte[] payload)
    {
        var reader = new PayloadReader(payload);
        var name = reader.CString();
        var maxRows = reader.Int32();
        if (!_portals.TryGetValue(name, out var portal))
        {
            ExtendedError(WireError.Of("34000", $"portal \"{Printable(name)}\" does not exist"));
            return;
        }
        var outcome = portal.Outcome ??= await RunPortalAsync(name, portal);
        if (outcome.Error is { } error)
        {
            ExtendedError(error);
            return;
        }
        var sql = portal.Statement.Sql;
        if (outcome.Sets.Count == 0)
        {
            foreach (var notice in outcome.Notices) _out.Error(notice, notice: true);
            _out.CommandComplete(outcome.Tag ?? WireSql.CommandTag(sql, Math.Max(0, outcome.RecordsAffected), false));
            return;
        }
        var set = outcome.Sets[0];
        var columns = Columns(set, portal.ResultFormats);
        if (portal.Statement.Described is { } described && Unsendable(set, columns, described) is { } unsendable)
        {
            ExtendedError(unsendable);
            return;
        }
        var end = maxRows > 0 ? Math.Min(set.Rows.Count, portal.Sent + maxRows) : set.Rows.Count;
        for (; portal.Sent < end; portal.Sent++) _out.DataRow(Encode(set.Rows[portal.Sent], columns));
        if (portal.Sent < set.Rows.Count)
        {
            _out.PortalSuspended();
            return;
        }
        if (set.Truncated) _out.Error(Truncated(set), notice: true);
        _out.CommandComplete(WireSql.CommandTag(sql, set.Rows.Count, true));
    }

    /// <summary>
    /// A portal's statement, run once. Outside a transaction, when more statements follow before the Sync (a driver's
    /// batch: Npgsql's multi-statement commands, asyncpg's executemany), the statements up to the Sync run in one
    /// implicit transaction, as PostgreSQL runs them; a statement alone before its Sync runs on its own, as before.
    /// </summary>
    private async Task<WireOutcome> RunPortalAsync(string name, Portal portal)
    {
        if (_transaction.Current == WireTransaction.State.Idle && TransactionControl.Of(portal.Statement.Sql).Kind == ControlKind.None
            && await MoreStatementsBeforeSyncAsync(name) && (await BeginAsync(ImplicitBegin, implicitly: true)) is { Error: not null } refused)
            return refused;
        return await RunAsync(portal.Statement.Sql, portal.Parameters);
    }

    /// <summary>
    /// Whether another statement runs before the next Sync: the messages after the current one are read ahead (and kept
    /// for their turn) until a Sync says no, or an Execute or portal Describe of another portal (or of one bound again)
    /// says yes. A Flush says yes too: the client reads the results before it decides what comes next, so anything it
    /// sends after belongs to the same transaction. A client waits for answers only after a Flush or Sync, so reading
    /// ahead cannot stall one that follows the protocol; what is read ahead is capped, past the cap the answer is yes.
    /// </summary>
    private async Task<bool> MoreStatementsBeforeSyncAsync(string current)
    {
        var rebound = false;
        long bytes = 0;
        for (var index = 0; ; index++)
        {
            if (index == _ahead.Count)
            {
                if (index >= MaxReadAhead || bytes > options.MaxMessageBytes) return true;
                if (await ReadAsync(startup: false, closed) is not { } next) return false;
                _ahead.Add(next);
            }
            var message = _ahead[index];
            bytes += message.Payload.Length;
            switch ((char)message.Type)
            {
                case 'S' or 'X' or 'Q':
                    return false;
                case 'H':
                    return true;
                case 'B':
                    rebound = true;
                    break;
                case 'E' or 'D' when PortalOf(message) is { } portal:
                    if (rebound || portal != current) return true;
                    break;
            }
        }
    }

    /// <summary>The portal an Execute or a portal Describe names; null for any other message.</summary>
    private static string? PortalOf(FrontendMessage message)
    {
        var reader = new PayloadReader(message.Payload);
        if (message.Type == (byte)'E') return reader.CString();
        return message.Type == (byte)'D' && reader.Byte() == (byte)'P' ? reader.CString() : null;
    }

    /// <summary>Most messages read ahead of the one being handled.</summary>
    private const int MaxReadAhead = 256;

    private void Close(byte[] payload)
    {
        var reader = new PayloadReader(payload);
        var kind = reader.Byte();
        var name = reader.CString();
        if (kind == (byte)'S') _prepared.Remove(name);
        else if (kind == (byte)'P') _portals.Remove(name);
        else throw new WireProtocolException(WireErrors.ProtocolViolation, "Close of something that is neither a statement nor a portal.");
        _out.CloseComplete();
    }

    /// <summary>An error in the extended protocol: sent, then everything up to the next Sync is discarded.</summary>
    private void ExtendedError(WireError error)
    {
        _out.Error(error);
        _skipUntilSync = true;
    }

    // ---- statements ----

    /// <summary>
    /// One statement, in the session's transaction state: refused as PostgreSQL refuses it (anything but a rollback in a
    /// failed transaction), transaction control, or a statement run through the pipeline. Any error inside a transaction
    /// fails it.
    /// </summary>
    private async Task<WireOutcome> RunAsync(string sql, IReadOnlyList<string?> parameters)
    {
        var control = TransactionControl.Of(sql);
        if (_transaction.Refusal(control) is { } refused)
        {
            _transaction.Fail();
            return WireOutcome.Failed(refused);
        }
        if (_transaction.NoOp(control) is { } warning) return new WireOutcome([], 0, null) { Tag = control.Tag, Notices = [warning] };
        if (control.Kind != ControlKind.None && _transaction.Implicit) return await ImplicitControlAsync(control);
        if (control.Kind != ControlKind.None) return await ControlAsync(control);
        var outcome = await StatementAsync(sql, parameters, _transaction.Pinned is { } pinned ? new PinnedRun(pinned, false) : null);
        if (outcome.Error is not null) _transaction.Fail();
        return outcome;
    }

    /// <summary>
    /// Transaction control, each an action of the session through the pipeline like any statement (policy judges BEGIN's
    /// modes; the audit records the transaction's id with each, so its COMMIT or ROLLBACK says how it ended), run on the
    /// pinned connection. A COMMIT that does not complete (refused, or failed upstream) leaves nothing committed: the
    /// connection is given back rolled back. ROLLBACK ends the transaction whatever its own answer. What is judged and runs
    /// is the statement rebuilt from what the gateway read (<see cref="TransactionControl.Sql"/>), since it runs unguarded.
    /// </summary>
    private async Task<WireOutcome> ControlAsync(TransactionControl control)
    {
        var sql = control.Sql; // judged and run as the gateway read it, never the agent's text
        var settings = _session!.Settings;
        WireOutcome outcome;
        switch (control.Kind)
        {
            case ControlKind.Begin:
                return await BeginAsync(control, implicitly: false);
            case ControlKind.Commit:
                // A failed transaction is rolled back, as PostgreSQL does, and recorded as the rollback it is.
                var failed = _transaction.Current == WireTransaction.State.Failed;
                outcome = await StatementAsync(failed ? "ROLLBACK" : sql, [], new PinnedRun(_transaction.Pinned!, true));
                await EndAsync(committed: !failed && outcome.Error is null);
                return outcome.Error is not null ? outcome : outcome with { Tag = failed ? "ROLLBACK" : control.Tag };
            case ControlKind.Rollback:
                outcome = await StatementAsync(sql, [], new PinnedRun(_transaction.Pinned!, true));
                await EndAsync(committed: false);
                return outcome.Error is not null ? outcome : outcome with { Tag = control.Tag };
            default:
                outcome = await StatementAsync(sql, [], new PinnedRun(_transaction.Pinned!, true));
                if (outcome.Error is not null)
                {
                    _transaction.Fail();
                    return outcome;
                }
                if (control.Savepoint is { } name)
                {
                    if (control.Kind == ControlKind.Savepoint) _transaction.Savepoint(name, settings.Save());
                    else if (control.Kind == ControlKind.Release) _transaction.Released(name);
                    else if (_transaction.RolledBackTo(name) is { } saved) settings.Restore(saved);
                }
                return outcome with { Tag = control.Tag };
        }
    }

    /// <summary>
    /// BEGIN: one upstream connection pinned to the session (within the cap), and BEGIN run on it as an action of the
    /// session that names the new transaction. <paramref name="implicitly"/>: the gateway's own BEGIN before the statements
    /// of a multi-statement query.
    /// </summary>
    private async Task<WireOutcome> BeginAsync(TransactionControl control, bool implicitly)
    {
        if (postgres.Pin(_session!.Connection, options.MaxOpenTransactions) is not { } pinned)
            return WireOutcome.Failed(WireError.Of("53300",
                $"Too many transactions are open through the gateway on '{_session.Connection}' ({options.MaxOpenTransactions}).",
                hint: implicitly
                    ? "Several statements in one query run in one transaction: send them one at a time, or again once other transactions ended."
                    : "Run the statement on its own (outside a transaction), or try BEGIN again once other transactions ended."));
        if (await ClaimAsync(pinned) is { } unclaimed)
        {
            await postgres.ReleaseAsync(pinned);
            return WireOutcome.Failed(unclaimed);
        }
        var id = "tx-" + NewId.NextGuid().ToString("N");
        var outcome = await StatementAsync(control.Sql, [], new PinnedRun(pinned, true), id);
        if (outcome.Error is not null)
        {
            await postgres.ReleaseAsync(pinned);
            return outcome;
        }
        _transaction.Began(id, pinned, _session.Settings.Save(), implicitly);
        _transactionEnds = DateTimeOffset.UtcNow + options.MaxTransactionDuration;
        return outcome with { Tag = control.Tag };
    }

    /// <summary>The identity's place among its open transactions (across gateway instances), or why it has none.</summary>
    private async Task<WireError?> ClaimAsync(PinnedConnection pinned)
    {
        var limit = options.MaxOpenTransactionsPerIdentity;
        try
        {
            if (await postgres.ClaimAsync(pinned, _session!.IdentityKey, limit, closed)) return null;
        }
        catch (NpgsqlException ex)
        {
            logger.LogWarning("PostgreSQL wire: the open-transaction count of session {Session} could not be taken ({Reason})",
                _session!.SessionId, ex.GetType().Name);
            return WireError.Of("08006", "The gateway could not reach the database to begin a transaction; nothing ran.");
        }
        return WireError.Of("53300", $"Too many transactions are open for this identity through the gateway ({limit}).",
            hint: "End one of the identity's open transactions (COMMIT or ROLLBACK), or send the statements one at a time.");
    }

    /// <summary>
    /// Transaction control among the statements of an implicit transaction, as PostgreSQL takes it: BEGIN makes it an
    /// ordinary transaction that the statements before it belong to (BEGIN still runs and is recorded, its modes judged
    /// and refused upstream if they come too late); COMMIT and ROLLBACK end it, with PostgreSQL's warning that no
    /// transaction was begun. (Savepoints were refused before.)
    /// </summary>
    private async Task<WireOutcome> ImplicitControlAsync(TransactionControl control)
    {
        if (control.Kind != ControlKind.Begin)
        {
            var ended = await ControlAsync(control);
            return ended.Error is not null ? ended : ended with { Notices = [.. ended.Notices, WireTransaction.NoTransaction] };
        }
        var outcome = await StatementAsync(control.Sql, [], new PinnedRun(_transaction.Pinned!, true));
        if (outcome.Error is not null)
        {
            _transaction.Fail();
            return outcome;
        }
        _transaction.MadeExplicit();
        _transactionEnds = DateTimeOffset.UtcNow + options.MaxTransactionDuration;
        return outcome with { Tag = control.Tag };
    }

    /// <summary>The transaction is over: its settings kept (committed) or forgotten (rolled back), its connection given back.</summary>
    private async Task EndAsync(bool committed)
    {
        var (pinned, begun) = _transaction.Ended();
        if (committed) _session!.Settings.Committed();
        else if (begun is not null) _session!.Settings.Restore(begun);
        if (pinned is not null) await postgres.ReleaseAsync(pinned);
    }

    /// <summary>
    /// The next message. Inside a transaction the client has <see cref="PostgresWireOptions.IdleInTransactionTimeout"/> to
    /// send it, so that an agent cannot hold the upstream's locks forever: past it the transaction is rolled back and the
    /// connection ends with FATAL 25P03, as PostgreSQL's idle_in_transaction_session_timeout ends it.
    /// </summary>
    private async Task<FrontendMessage?> NextMessageAsync()
    {
        if (_ahead.Count > 0)
        {
            var ahead = _ahead[0];
            _ahead.RemoveAt(0);
            return ahead;
        }
        if (!_transaction.Active) return await ReadAsync(startup: false, closed);
        // A client that keeps sending keeps its transaction, and its locks, only up to MaxTransactionDuration in all.
        var left = _transactionEnds - DateTimeOffset.UtcNow;
        if (left <= TimeSpan.Zero) return await TransactionTimedOutAsync();
        // Which limit runs out first is decided here: a timer may fire a little before the clock says it is due.
        var byDuration = left < options.IdleInTransactionTimeout;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(closed);
        idle.CancelAfter(byDuration ? left : options.IdleInTransactionTimeout);
        try
        {
            return await ReadAsync(startup: false, idle.Token);
        }
        catch (OperationCanceledException) when (idle.IsCancellationRequested && !closed.IsCancellationRequested)
        {
            if (byDuration) return await TransactionTimedOutAsync();
            logger.LogInformation("PostgreSQL wire: session {Session} idle in transaction {Transaction} past {Limit}; rolled back",
                _session!.SessionId, _transaction.Id, options.IdleInTransactionTimeout);
            await EndAsync(committed: false);
            await FatalAsync("25P03", "terminating connection due to idle-in-transaction timeout");
            return null;
        }
    }

    /// <summary>The transaction outlived MaxTransactionDuration: rolled back, and the connection ends as PostgreSQL 17's transaction_timeout ends it.</summary>
    private async Task<FrontendMessage?> TransactionTimedOutAsync()
    {
        logger.LogInformation("PostgreSQL wire: session {Session} transaction {Transaction} open past {Limit}; rolled back",
            _session!.SessionId, _transaction.Id, options.MaxTransactionDuration);
        await EndAsync(committed: false);
        await FatalAsync("25P04", "terminating connection due to transaction timeout");
        return null;
    }

    private async Task<WireOutcome> StatementAsync(string sql, IReadOnlyList<string?> parameters, PinnedRun? pinned, string? transaction = null)
    {
        var control = pinned is { Control: true };
        if (!control && SessionCommands.Answer(sql, _session!) is { } own) return own;
        if (!control && _session!.Settings.Refusal(sql) is { } refusal) return WireOutcome.Failed(WireError.Of("54000", refusal));
        // The end of a transaction is not cancelled, by a CancelRequest or the client leaving: whether it committed is
        // the upstream's answer, and the audit records that answer, never a cancellation that raced a COMMIT that went
        // through (PostgreSQL does not cancel a COMMIT either). The driver's command timeout still bounds it.
        var ending = control && sql is "COMMIT" or "ROLLBACK";
        using var statement = ending ? new CancellationTokenSource() : CancellationTokenSource.CreateLinkedTokenSource(closed);
        if (!ending) cancellation.Running(_processId, statement);
        var presented = _session!.PresentedApproval;
        try
        {
            var outcome = await statements.RunAsync(_session, sql, parameters, statement.Token, transaction ?? _transaction.Id, pinned,
                withSettings: !control);
            if (outcome.Error is null && !control)
            {
                _session.Settings.Succeeded(sql, inTransaction: pinned is not null);
                // What drivers send when a pooled connection is reused: the session forgets what it was given.
                if (WireSettings.Change(sql).Kind == WireSettings.ChangeKind.ResetAll) _session.PresentedApproval = null;
            }
            return outcome;
        }
        catch (OperationCanceledException) when (statement.IsCancellationRequested && !closed.IsCancellationRequested)
        {
            return WireOutcome.Failed(WireError.Of("57014", "canceling statement due to user request"));
        }
        finally
        {
            if (!ending) cancellation.Running(_processId, null);
            // An approval covers one statement: it is presented with the next one only.
            if (presented is not null) _session.PresentedApproval = null;
        }
    }

    private static WireError Truncated(WireResultSet set) => new("WARNING", "01000",
        $"The result was cut at {set.Rows.Count} rows by the policy's max_rows obligation.");

    /// <summary>
    /// A client that described the statement decodes its rows by the described types, without another RowDescription:
    /// a column that cannot be sent as its described type in the format asked for (masking changed its values, or the
    /// gateway does not write the type in binary) is refused rather than sent as bytes the client would misread.
    /// </summary>
    private static WireError? Unsendable(WireResultSet set, WireColumn[] columns, IReadOnlyList<WireResultColumn> described)
    {
        for (var i = 0; i < columns.Length; i++)
        {
            var expected = i < described.Count ? described[i].Type : 0;
            if (columns[i].TypeOid == expected || (!columns[i].Binary && !set.Columns[i].Masked)) continue;
            var why = set.Columns[i].Masked ? "masking changed its values, which are no longer of that type"
                : "the gateway does not send that type in binary";
            return WireError.Of(WireErrors.FeatureNotSupported,
                $"Column \"{columns[i].Name}\" cannot be sent as type {expected}: {why}.",
                hint: "Select the column cast to text (column::text), or ask for its rows in text format.");
        }
        return null;
    }

    private static WireColumn[] Columns(WireResultSet set, short[] formats) => Columns(set.Columns, formats);

    private static WireColumn[] Columns(IReadOnlyList<WireResultColumn> source, short[] formats)
    {
        var columns = new WireColumn[source.Count];
        for (var i = 0; i < columns.Length; i++)
        {
            var column = source[i];
            var binary = (formats.Length == 1 ? formats[0] : i < formats.Length ? formats[i] : 0) == 1;
            var type = column.AnnouncedType;
            // A type whose binary form the gateway does not write is announced as text, whose binary form is its text.
            if (binary && !WireValues.HasBinaryResult(type)) type = WireValues.Text;
            columns[i] = new WireColumn(column.Name, column.Table, column.Attribute, type, WireValues.TypeSize(type), binary);
        }
        return columns;
    }

    private static byte[]?[] Encode(string?[] row, WireColumn[] columns)
    {
        var values = new byte[]?[row.Length];
        for (var i = 0; i < row.Length; i++)
            values[i] = row[i] is not { } text ? null
                : columns[i].Binary ? WireValues.ToBinary(columns[i].TypeOid, text)
                : System.Text.Encoding.UTF8.GetBytes(text);
        return values;
    }

    // ---- framing ----

    private async Task<FrontendMessage?> ReadAsync(bool startup, CancellationToken cancellationToken)
    {
        var input = _pipe.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            FrontendMessage? message;
            try
            {
                if (WireCodec.TryRead(ref buffer, startup, options.MaxMessageBytes, out message))
                {
                    input.AdvanceTo(buffer.Start);
                    return message;
                }
            }
            catch (WireProtocolException)
            {
                input.AdvanceTo(buffer.End);
                throw;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                input.AdvanceTo(buffer.End);
                return null;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private async Task FlushAsync()
    {
        if (_out.Length == 0) return;
        await _pipe.Output.WriteAsync(_out.Written, closed);
        _out.Clear();
    }

    private async Task FatalAsync(string sqlState, string message)
    {
        _out.Error(WireError.Fatal(sqlState, message));
        try
        {
            await FlushAsync();
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The client is gone already.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_processId != 0) cancellation.Release(_processId);
        // The client went away mid-transaction: nothing it did in it is committed.
        if (_transaction.Ended().Pinned is { } pinned) await postgres.ReleaseAsync(pinned);
        if (_tls is not null) await _tls.DisposeAsync();
    }

    /// <summary>Pipes over the TLS stream.</summary>
    private sealed class StreamPipe(Stream stream) : IDuplexPipe
    {
        public PipeReader Input { get; } = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        public PipeWriter Output { get; } = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }
}
