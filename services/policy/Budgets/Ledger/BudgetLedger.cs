using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Portcullis.Contracts;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Budgets.Ledger;

/// <summary>
/// What each request drew on each budget, in PostgreSQL (table policy.budget_charges), one row per request and
/// budgeted rule: written when the request is decided (so a request that runs counts at once), then completed from
/// the recorded <see cref="RequestCompleted"/> (requests, rows, bytes) and <see cref="ResponseMasked"/> (masked values
/// by entity). Every write sets a request's values rather than adding to a total, so a redelivered event counts once.
/// </summary>
public sealed class BudgetLedger(NpgsqlDataSource database, TimeProvider clock) : IAsyncDisposable
{
    private const string Schema = """
        CREATE SCHEMA IF NOT EXISTS policy;
        CREATE TABLE IF NOT EXISTS policy.budget_charges (
            request_id uuid NOT NULL,
            rule_id text NOT NULL,
            scope text NOT NULL,
            charged_at timestamptz NOT NULL,
            requests bigint NOT NULL,
            rows bigint NOT NULL DEFAULT 0,
            bytes bigint NOT NULL DEFAULT 0,
            masked jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (request_id, rule_id));
        CREATE INDEX IF NOT EXISTS budget_charges_scope ON policy.budget_charges (rule_id, scope, charged_at);
        """;

    public static BudgetLedger Create(string connectionString, TimeProvider clock) =>
        new(new NpgsqlDataSourceBuilder(connectionString).Build(), clock);

    /// <summary>
    /// Creates the table, then reads a budget that has no charges once, so the first request to decide does not pay for
    /// opening the pool and preparing the reads (a decision has a deadline of a few seconds).
    /// </summary>
    public async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await using (var command = database.CreateCommand(Schema))
            await command.ExecuteNonQueryAsync(cancellationToken);
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var now = clock.GetUtcNow();
        (string, string, DateTimeOffset)[] none = [("warm-up", "none", now)];
        await LockAsync(connection, transaction, none, cancellationToken);
        _ = BudgetUsage.Of(await ReadTotalsAsync(connection, transaction, none, true, now, cancellationToken), now);
        _ = BudgetUsage.Of(await ReadChargesAsync(connection, transaction, none, cancellationToken), now);
        await transaction.RollbackAsync(cancellationToken);
    }

    /// <summary>
    /// Decides <paramref name="request"/> with <paramref name="decide"/> over the standing of every budget it could draw on,
    /// and charges it to those it does draw on, in one transaction that holds a lock on each of those budgets for the
    /// request's scope: decisions on one identity's (or session's) budget are taken one after the other, across policy
    /// instances, so the requests a budget lets run are exact.
    /// </summary>
    public async Task<PolicyDecision> DecideAsync(CompiledPolicy policy, RequestReceived request,
        Func<BudgetUsage, PolicyDecision> decide, CancellationToken cancellationToken)
    {
        if (policy.BudgetRules.Count == 0) return decide(BudgetUsage.Unspent);
        // A budgeted rule applies only when it matches and its budget is spent, so a request that matches none of them is
        // decided as with every budget unspent, and draws on none: no database is asked and no budget is locked.
        var unspent = decide(BudgetUsage.Unspent);
        var budgets = policy.BudgetRules.Where(r => r.Matches(request.Principal, request.Action, unspent.Analysis))
            .Select(r => r.Budget!).ToArray();
        if (budgets.Length == 0) return unspent;
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var now = clock.GetUtcNow();
        var keys = budgets.Select(b => (b.RuleId, b.ScopeOf(request), now - b.Window)).ToArray();
        await LockAsync(connection, transaction, keys, cancellationToken);
        // The window's totals, summed where the charges are, tell whether a budget is spent; only a spent one needs its
        // charges one by one, to tell when it frees up. The same standing as from every charge, without reading them all.
        var charges = await ReadTotalsAsync(connection, transaction, keys, budgets.Any(b => b.Limits.Any(l => l.Entity is not null)),
            now, cancellationToken);
        var spent = budgets.Where(b => b.Standing(charges.GetValueOrDefault(b.RuleId) ?? [], now).Spent).ToArray();
        if (spent.Length > 0)
        {
            var each = await ReadChargesAsync(connection, transaction, [.. keys.Where(k => spent.Any(b => b.RuleId == k.Item1))],
                cancellationToken);
            foreach (var budget in spent) charges[budget.RuleId] = each.GetValueOrDefault(budget.RuleId) ?? [];
        }
        var decision = decide(BudgetUsage.Of(charges, now));
        var draws = BudgetDraws.Of(policy, request, decision);
        if (draws.Count > 0)
        {
            // A redelivered request is charged once (and keeps its first decision's time).
            await using var charge = new NpgsqlCommand("""
                INSERT INTO policy.budget_charges (request_id, rule_id, scope, charged_at, requests)
                SELECT @request, d.rule_id, d.scope, @at, 1 FROM unnest(@rules, @scopes) AS d(rule_id, scope)
                ON CONFLICT (request_id, rule_id) DO NOTHING
                """, connection, transaction);
            charge.Parameters.AddWithValue("request", request.RequestId);
            charge.Parameters.AddWithValue("at", now.UtcDateTime);
            charge.Parameters.AddWithValue("rules", draws.Select(d => d.RuleId).ToArray());
            charge.Parameters.AddWithValue("scopes", draws.Select(d => d.Scope).ToArray());
            await charge.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return decision;
    }

    /// <summary>
    /// Locks the budgets (rule and scope). The locks are taken in one order, so two requests that share budgets never
    /// wait on each other.
    /// </summary>
    private static async Task LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        IReadOnlyList<(string Rule, string Scope, DateTimeOffset Since)> budgets, CancellationToken cancellationToken)
    {
        await using var locks = new NpgsqlCommand(
            "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest(@keys) AS k(key) ORDER BY key", connection, transaction);
        locks.Parameters.AddWithValue("keys", budgets.Select(b => $"budget:{b.Rule}:{b.Scope}").Distinct().ToArray());
        await locks.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Each budget's charges since its window began, summed into one charge at <paramref name="now"/> (the masked values
    /// by entity only when <paramref name="masked"/>: some budget limits them).
    /// </summary>
    private static async Task<Dictionary<string, IReadOnlyList<BudgetCharge>>> ReadTotalsAsync(NpgsqlConnection connection,
        NpgsqlTransaction transaction, IReadOnlyList<(string Rule, string Scope, DateTimeOffset Since)> budgets, bool masked,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var totals = new Dictionary<string, IReadOnlyList<BudgetCharge>>(StringComparer.Ordinal);
        await using var read = new NpgsqlCommand("""
            SELECT b.rule_id, coalesce(sum(c.requests), 0)::bigint, coalesce(sum(c.rows), 0)::bigint, coalesce(sum(c.bytes), 0)::bigint,
                   CASE WHEN @masked THEN (SELECT jsonb_object_agg(m.entity, m.total) FROM (
                       SELECT e.key AS entity, sum(e.value::bigint) AS total
                       FROM policy.budget_charges c2 CROSS JOIN LATERAL jsonb_each_text(c2.masked) AS e
                       WHERE c2.rule_id = b.rule_id AND c2.scope = b.scope AND c2.charged_at > b.since
                       GROUP BY e.key) m)::text END
            FROM unnest(@rules, @scopes, @since) AS b(rule_id, scope, since)
            LEFT JOIN policy.budget_charges c ON c.rule_id = b.rule_id AND c.scope = b.scope AND c.charged_at > b.since
            GROUP BY b.rule_id, b.scope, b.since
            """, connection, transaction);
        AddBudgets(read, budgets);
        read.Parameters.AddWithValue("masked", masked);
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            totals[reader.GetString(0)] = [new BudgetCharge(now, reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3),
                reader.IsDBNull(4) ? new Dictionary<string, long>() : JsonSerializer.Deserialize<Dictionary<string, long>>(reader.GetString(4)) ?? [])];
        return totals;
    }

    /// <summary>The budgets' charges since each one's window began, one by one.</summary>
    private static async Task<Dictionary<string, IReadOnlyList<BudgetCharge>>> ReadChargesAsync(NpgsqlConnection connection,
        NpgsqlTransaction transaction, IReadOnlyList<(string Rule, string Scope, DateTimeOffset Since)> budgets,
        CancellationToken cancellationToken)
    {
        var charges = new Dictionary<string, List<BudgetCharge>>(StringComparer.Ordinal);
        await using (var read = new NpgsqlCommand("""
            SELECT c.rule_id, c.charged_at, c.requests, c.rows, c.bytes, c.masked::text
            FROM policy.budget_charges c
            JOIN unnest(@rules, @scopes, @since) AS b(rule_id, scope, since) ON c.rule_id = b.rule_id AND c.scope = b.scope
            WHERE c.charged_at > b.since
            """, connection, transaction))
        {
            AddBudgets(read, budgets);
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var rule = reader.GetString(0);
                if (!charges.TryGetValue(rule, out var list)) charges[rule] = list = [];
                list.Add(Charge(reader, 1));
            }
        }
        return charges.ToDictionary(c => c.Key, c => (IReadOnlyList<BudgetCharge>)c.Value, StringComparer.Ordinal);
    }

    /// <summary>One charge from a row's columns charged_at, requests, rows, bytes, masked::text, starting at <paramref name="first"/>.</summary>
    private static BudgetCharge Charge(NpgsqlDataReader reader, int first) =>
        new(reader.GetFieldValue<DateTimeOffset>(first), reader.GetInt64(first + 1), reader.GetInt64(first + 2), reader.GetInt64(first + 3),
            JsonSerializer.Deserialize<Dictionary<string, long>>(reader.GetString(first + 4)) ?? []);

    private static void AddBudgets(NpgsqlCommand command, IReadOnlyList<(string Rule, string Scope, DateTimeOffset Since)> budgets)
    {
        command.Parameters.AddWithValue("rules", budgets.Select(b => b.Rule).ToArray());
        command.Parameters.AddWithValue("scopes", budgets.Select(b => b.Scope).ToArray());
        command.Parameters.Add(new NpgsqlParameter("since", NpgsqlDbType.Array | NpgsqlDbType.TimestampTz)
            { Value = budgets.Select(b => b.Since.UtcDateTime).ToArray() });
    }

    /// <summary>
    /// How a charged request ended: one that ran keeps its request and adds its output's size and rows; one that did not
    /// run (refused, waiting for an approval, unavailable) is taken off the requests count.
    /// </summary>
    public async Task CompletedAsync(RequestCompleted completed, CancellationToken cancellationToken)
    {
        var ran = completed.Outcome is Outcomes.Completed or Outcomes.UpstreamFailed;
        await using var command = database.CreateCommand("""
            UPDATE policy.budget_charges SET requests = @requests, bytes = @bytes, rows = @rows WHERE request_id = @request
            """);
        command.Parameters.AddWithValue("request", completed.RequestId);
        command.Parameters.AddWithValue("requests", ran ? 1L : 0L);
        command.Parameters.AddWithValue("bytes", ran ? completed.Output?.Size ?? 0L : 0L);
        command.Parameters.AddWithValue("rows", ran ? completed.Rows ?? 0L : 0L);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The values masked in a charged request's output, by entity type.</summary>
    public async Task MaskedAsync(ResponseMasked masked, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("UPDATE policy.budget_charges SET masked = @masked WHERE request_id = @request");
        command.Parameters.AddWithValue("request", masked.RequestId);
        command.Parameters.Add(new NpgsqlParameter("masked", NpgsqlDbType.Jsonb)
            { Value = JsonSerializer.Serialize(masked.CountsByEntity.ToDictionary(c => c.Key, c => (long)c.Value)) });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The charges in the window of <paramref name="budget"/> by scope (at most <paramref name="scopes"/> scopes, most
    /// recently charged first), optionally of one scope: what the admin view shows. Reads without locking.
    /// </summary>
    public async Task<IReadOnlyList<(string Scope, IReadOnlyList<BudgetCharge> Charges)>> ReadWindowAsync(Budget budget,
        string? scope, int scopes, CancellationToken cancellationToken)
    {
        await using var read = database.CreateCommand("""
            WITH recent AS (
                SELECT scope, max(charged_at) AS last FROM policy.budget_charges
                WHERE rule_id = @rule AND charged_at > @since AND (@scope::text IS NULL OR scope = @scope)
                GROUP BY scope ORDER BY last DESC LIMIT @scopes)
            SELECT c.scope, c.charged_at, c.requests, c.rows, c.bytes, c.masked::text
            FROM policy.budget_charges c JOIN recent r ON r.scope = c.scope
            WHERE c.rule_id = @rule AND c.charged_at > @since
            ORDER BY r.last DESC, c.scope, c.charged_at
            """);
        read.Parameters.AddWithValue("rule", budget.RuleId);
        read.Parameters.AddWithValue("since", (clock.GetUtcNow() - budget.Window).UtcDateTime);
        read.Parameters.Add(new NpgsqlParameter("scope", NpgsqlDbType.Text) { Value = (object?)scope ?? DBNull.Value });
        read.Parameters.AddWithValue("scopes", scopes);
        var found = new List<(string, IReadOnlyList<BudgetCharge>)>();
        List<BudgetCharge>? current = null;
        string? currentScope = null;
        await using var reader = await read.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var at = reader.GetString(0);
            if (at != currentScope) found.Add((currentScope = at, current = []));
            current!.Add(Charge(reader, 1));
        }
        return found;
    }

    /// <summary>Deletes up to <paramref name="batch"/> charges made before <paramref name="before"/>; how many it deleted.</summary>
    public async Task<int> PruneAsync(DateTimeOffset before, int batch, CancellationToken cancellationToken)
    {
        // In batches through the (rule, scope, charged_at) index's order, so a large backlog never holds long locks.
        await using var command = database.CreateCommand("""
            DELETE FROM policy.budget_charges c USING (
                SELECT request_id, rule_id FROM policy.budget_charges WHERE charged_at < @before LIMIT @batch) old
            WHERE c.request_id = old.request_id AND c.rule_id = old.rule_id
            """);
        command.Parameters.AddWithValue("before", before.UtcDateTime);
        command.Parameters.AddWithValue("batch", batch);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public ValueTask DisposeAsync() => database.DisposeAsync();
}
