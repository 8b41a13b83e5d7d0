using System.Net;
using System.Security.Claims;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Portcullis.Contracts;
using Portcullis.Defaults.Telemetry;
using Portcullis.Gateway.Apis;
using Portcullis.Gateway.Connectors.Postgres;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Sessions;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>Who is on a wire connection, and where its statements go: fixed at startup, after the token was validated.</summary>
public sealed class WireSession(ClaimsPrincipal user, string token, string connection, string sessionId, IPAddress? remote)
{
    public ClaimsPrincipal User { get; } = user;
    public string Token { get; } = token;
    public string Connection { get; } = connection;
    public string SessionId { get; } = sessionId;
    public IPAddress? Remote { get; } = remote;

    /// <summary>
    /// The identity's key among the upstream's advisory locks (the open-transaction count per identity): the token's
    /// issuer and subject, hashed.
    /// </summary>
    public int IdentityKey { get; } = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(System.Security.Cryptography.SHA256.HashData(
        System.Text.Encoding.UTF8.GetBytes($"portcullis-wire-transactions\n{user.FindFirst("iss")?.Value}\n{user.FindFirst("sub")?.Value}")));

    /// <summary>The approval id set with <c>SET portcullis.approval</c>, presented with the next statement only.</summary>
    public string? PresentedApproval { get; set; }

    /// <summary>The session settings made so far, run again (and judged) with every statement.</summary>
    public WireSettings Settings { get; } = new();
}

/// <summary>One result set as the wire sends it: masked values in text form, with each column's origin in the upstream.</summary>
public sealed record WireResultSet(IReadOnlyList<WireResultColumn> Columns, IReadOnlyList<string?[]> Rows, bool Truncated);

/// <summary>
/// A result column: its (masked) name, table OID, attribute number and type. <paramref name="Masked"/>: masking changed
/// a value in it, so it is announced as text (a masked value is not a value of the column's type).
/// </summary>
public sealed record WireResultColumn(string Name, uint Table, short Attribute, uint Type, bool Masked)
{
    public uint AnnouncedType => Masked ? WireValues.Text : Type;
}

/// <summary>A described statement: its parameter types, its result columns (null: it returns no rows), or the error.</summary>
public sealed record WireDescription(IReadOnlyList<uint> ParameterTypes, IReadOnlyList<WireResultColumn>? Columns, WireError? Error);

/// <summary>What a statement gave: its result sets and rows changed, or the error the client gets.</summary>
public sealed record WireOutcome(IReadOnlyList<WireResultSet> Sets, long RecordsAffected, WireError? Error)
{
    /// <summary>The command tag, when it is not the statement's own (COMMIT for END, ROLLBACK for a failed COMMIT).</summary>
    public string? Tag { get; init; }

    /// <summary>Notices sent before the command completes (PostgreSQL's warnings for a BEGIN inside a transaction...).</summary>
    public IReadOnlyList<WireError> Notices { get; init; } = [];

    public static WireOutcome Failed(WireError error) => new([], 0, error);
}

/// <summary>
/// Runs one statement from the wire as one agent action, exactly as <c>POST /sql/{connection}</c> runs it (the same
/// code, in process, like MCP's tool calls): policy, approval, execution with the gateway's credentials and the
/// decision's obligations, masking by column origin, audit. The flow's answer is turned into wire terms: the masked
/// rows, or an ErrorResponse with a real SQLSTATE.
/// </summary>
public sealed class WireStatements(IServiceScopeFactory scopes, ILogger<WireStatements> logger)
{
    /// <remarks>
    /// <paramref name="transaction"/>: the id of the transaction the session holds open, recorded with the action;
    /// <paramref name="pinned"/>: its connection, on which the statement runs. Transaction control runs without the
    /// session's settings (<paramref name="withSettings"/> false): it is judged and recorded as sent.
    /// </remarks>
    public async Task<WireOutcome> RunAsync(WireSession session, string sql, IReadOnlyList<string?> parameters,
        CancellationToken cancellationToken, string? transaction = null, PinnedRun? pinned = null, bool withSettings = true)
    {
        // Parameters are bound as PostgreSQL's text form with no declared type, as psql's \bind and most drivers send
        // them; the server gives them the type the statement needs. Policy, the audit and an approval see them as /sql's.
        var values = parameters.Select(p => (object)new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Unknown, Value = (object?)p ?? DBNull.Value })
            .ToArray();
        string? canonical;
        try
        {
            canonical = PostgresConnector.CanonicalParameters([.. parameters.Select(p => (object?)p ?? DBNull.Value)]);
        }
        catch (FormatException ex)
        {
            return WireOutcome.Failed(WireError.Of("22021", ex.Message));
        }
        var prelude = withSettings ? session.Settings.Statements : [];
        var action = new AgentAction(Protocols.Sql, session.Connection, Sql: withSettings ? session.Settings.Judged(sql) : sql,
            Parameters: canonical, Transaction: transaction);

        using var trace = PortcullisActivities.StartAgentRequest("postgres wire statement"); // one trace per statement
        await using var scope = scopes.CreateAsyncScope();
        var context = NewContext(scope.ServiceProvider, session, cancellationToken);
        if (pinned is not null) context.Features.Set(pinned);
        SqlResult? raw = null;
        await SqlApi.RunAction(context, scope.ServiceProvider.GetRequiredService<AgentRequestFlow>(),
            scope.ServiceProvider.GetRequiredService<PostgresConnector>(), action, values, logger, result => raw = result,
            prelude.Count == 0 ? null : prelude, prelude.Count == 0 ? null : sql);

        var body = ((MemoryStream)context.Response.Body).ToArray();
        var status = context.Response.StatusCode;
        return status == 200 && raw is not null
            ? Rows(body, raw)
            : WireOutcome.Failed(WireErrors.FromProblem(status, body));
    }

    /// <summary>
    /// Describes a prepared statement as one action through the pipeline: the same policy decision as running it (a
    /// statement denied to run is denied to describe, so a Describe learns nothing a denial hides), recorded in the
    /// audit with method DESCRIBE, and only parsed upstream. A statement that needs approval needs it to be described
    /// too (the describe is an action of its own, with its own approval): fail closed rather than describe unapproved.
    /// </summary>
    /// <remarks>
    /// Inside an open transaction (<paramref name="transaction"/>, <paramref name="pinned"/>) the statement is described on
    /// the transaction's connection, so that it sees what the transaction made, and the describe names the transaction.
    /// </remarks>
    public async Task<WireDescription> DescribeAsync(WireSession session, string sql, CancellationToken cancellationToken,
        string? transaction = null, PinnedRun? pinned = null)
    {
        var prelude = session.Settings.Statements;
        var action = new AgentAction(Protocols.Sql, session.Connection, Method: DescribeMethod, Sql: session.Settings.Judged(sql),
            Transaction: transaction);
        using var trace = PortcullisActivities.StartAgentRequest("postgres wire describe");
        await using var scope = scopes.CreateAsyncScope();
        var context = NewContext(scope.ServiceProvider, session, cancellationToken, presentApproval: false);
        if (pinned is not null) context.Features.Set(pinned);
        SqlDescription? raw = null;
        await SqlApi.DescribeAction(context, scope.ServiceProvider.GetRequiredService<AgentRequestFlow>(),
            scope.ServiceProvider.GetRequiredService<PostgresConnector>(), action, logger, description => raw = description,
            prelude.Count == 0 ? null : prelude, prelude.Count == 0 ? null : sql);
        var body = ((MemoryStream)context.Response.Body).ToArray();
        if (context.Response.StatusCode != 200 || raw is null) return new WireDescription([], null, WireErrors.FromProblem(context.Response.StatusCode, body));
        // The names as the masked, recorded answer has them; the types and origins as the upstream described them.
        using var document = JsonDocument.Parse(body);
        var names = document.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("name").GetString() ?? "").ToArray();
        var columns = raw.Columns.Select((c, i) => new WireResultColumn(names[i], c.Table, c.Attribute, c.TypeOid, false)).ToArray();
        return new WireDescription(raw.ParameterTypes, columns.Length == 0 ? null : columns, null);
    }

    /// <summary>The method an audited describe carries (a SQL action's method is otherwise unset).</summary>
    public const string DescribeMethod = "DESCRIBE";

    private static HttpContext NewContext(IServiceProvider services, WireSession session, CancellationToken cancellationToken,
        bool presentApproval = true)
    {
        var context = new DefaultHttpContext { RequestServices = services, User = session.User, RequestAborted = cancellationToken };
        var request = context.Request;
        request.Protocol = "HTTP/1.1";
        request.Method = "POST";
        request.Scheme = "postgresql";
        request.Host = new HostString("gateway");
        request.Path = "/sql/" + Uri.EscapeDataString(session.Connection);
        request.Headers.Authorization = "Bearer " + session.Token;
        request.Headers[SessionResolver.SessionHeader] = session.SessionId;
        // A statement that needs approval is answered at once with the approval id; the client re-sends it.
        request.Headers["Prefer"] = "wait=0";
        if (presentApproval && session.PresentedApproval is { } approval) request.Headers[ApprovalGate.Header] = approval;
        context.Connection.RemoteIpAddress = session.Remote;
        context.Response.Body = new MemoryStream();
        return context;
    }

    /// <summary>The masked JSON rows back in PostgreSQL's text form, with the upstream's column metadata.</summary>
    private static WireOutcome Rows(byte[] body, SqlResult raw)
    {
        using var document = JsonDocument.Parse(body);
        var sets = new List<WireResultSet>();
        var results = document.RootElement.GetProperty("results");
        var index = 0;
        foreach (var set in results.EnumerateArray())
        {
            var original = raw.Results[index++];
            var names = set.GetProperty("columns").EnumerateArray().Select(c => c.GetProperty("name").GetString() ?? "").ToArray();
            var masked = new bool[names.Length];
            var rows = new List<string?[]>();
            var rowIndex = 0;
            foreach (var row in set.GetProperty("rows").EnumerateArray())
            {
                var values = new string?[names.Length];
                var column = 0;
                foreach (var value in row.EnumerateArray())
                {
                    values[column] = Text(value);
                    var before = rowIndex < original.Rows.Count ? original.Rows[rowIndex][column] : null;
                    if (!masked[column] && values[column] != RawText(before)) masked[column] = true;
                    column++;
                }
                rows.Add(values);
                rowIndex++;
            }
            var columns = names.Select((name, i) => new WireResultColumn(name, original.Columns[i].Table, original.Columns[i].Attribute,
                original.Columns[i].TypeOid, masked[i])).ToArray();
            sets.Add(new WireResultSet(columns, rows, set.GetProperty("truncated").GetBoolean()));
        }
        return new WireOutcome(sets, raw.RecordsAffected, null);
    }

    private static string? Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => "t",
        JsonValueKind.False => "f",
        _ => value.GetRawText(), // numbers: exactly the digits PostgreSQL printed; anything else as the JSON it became
    };

    private static string? RawText(object? value) => value switch
    {
        null => null,
        string text => text,
        JsonNumberText number => number.Text,
        bool flag => flag ? "t" : "f",
        long integer => integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
    };
}
