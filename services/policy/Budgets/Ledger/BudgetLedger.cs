using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Portcullis.Contracts;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy.Budgets.Ledger;

/// <summary>
/// What each request drew on each budget, in PostgreSQL, kept two ways:
/// <list type="bullet">
/// <item>policy.budget_charges, one row per request and budgeted rule: written when the request is decided, then
/// completed from the recorded <see cref="RequestCompleted"/> (requests, rows, bytes) and <see cref="ResponseMasked"/>
/// (masked values by entity). Every write sets a request's values rather than adding to a total, so a redelivered event
/// counts once.</item>
/// <item>policy.budget_totals, running totals per budget, scope and bucket (a sixtieth of the window, see
/// <see cref="Budget.BucketOf"/>): each write to a charge adds its change to them in the same statement, so a decision
/// reads a window's totals from at most about sixty rows per budget, however many requests it holds.</item>
/// </list>
/// A decision reserves its request on the budgets it matches in one statement that holds their locks only while it runs
/// (committed without waiting for the disk), decides, and then records its charges durably, which makes the reservation
/// durable too: nothing waits on another decision's disk write, and the requests a budget lets run stay exact.
/// </summary>
public sealed class BudgetLedger(NpgsqlDataSource database, TimeProvider clock) : IAsyncDisposable
{
    /// <summary>
    /// How many rows per bucket take the charges' completions (rows, bytes, masked values, a request that did not run),
    /// by request: each such write commits durably while it holds its row, so one row would take a busy identity's
    /// completions one disk write at a time. Reservations have a row of their own (part 0).
    /// </summary>
    private const int CompletionParts = 4;

    private const string Schema = """
        SELECT pg_advisory_xact_lock(hashtextextended('policy.budget_ledger schema', 0));
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
        -- The end of the bucket of policy.budget_totals the charge is counted in.
        ALTER TABLE policy.budget_charges ADD COLUMN IF NOT EXISTS bucket timestamptz;
        CREATE TABLE IF NOT EXISTS policy.budget_totals (
            rule_id text NOT NULL,
            scope text NOT NULL,
            bucket timestamptz NOT NULL,
            part smallint NOT NULL,
            requests bigint NOT NULL DEFAULT 0,
            rows bigint NOT NULL DEFAULT 0,
            bytes bigint NOT NULL DEFAULT 0,
            masked jsonb NOT NULL DEFAULT '{}',
            PRIMARY KEY (rule_id, scope, bucket, part));
        CREATE INDEX IF NOT EXISTS budget_totals_bucket ON policy.budget_totals (bucket);
        -- Masked values by entity, added: a + factor * b, without the entities that come to zero.
        CREATE OR REPLACE FUNCTION policy.budget_masked_add(a jsonb, b jsonb, factor bigint) RETURNS jsonb
            LANGUAGE sql IMMUTABLE AS $$
            SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM (
                SELECT k, sum(v)::bigint AS v FROM (
                    SELECT key AS k, value::bigint AS v FROM jsonb_each_text(a)
                    UNION ALL SELECT key, factor * value::bigint FROM jsonb_each_text(b)) d
                GROUP BY k HAVING sum(v) <> 0) e $$;
        CREATE OR REPLACE FUNCTION policy.budget_masked_plus(a jsonb, b jsonb) RETURNS jsonb
            LANGUAGE sql IMMUTABLE AS $$ SELECT policy.budget_masked_add(a, b, 1) $$;
        CREATE OR REPLACE AGGREGATE policy.budget_masked_sum(jsonb) (sfunc = policy.budget_masked_plus, stype = jsonb, initcond = '{}');
        -- Charges made before the totals existed are counted into them once, in buckets of a second.
        WITH moved AS (
            UPDATE policy.budget_charges SET bucket = date_trunc('second', charged_at) + interval '1 second' WHERE bucket IS NULL
            RETURNING rule_id, scope, bucket, requests, rows, bytes, masked)
        INSERT INTO policy.budget_totals AS t (rule_id, scope, bucket, part, requests, rows, bytes, masked)
        SELECT rule_id, scope, bucket, 1, sum(requests), sum(rows), sum(bytes), policy.budget_masked_sum(masked)
        FROM moved GROUP BY rule_id, scope, bucket
        ON CONFLICT (rule_id, scope, bucket, part) DO UPDATE SET requests = t.requests + excluded.requests,
            rows = t.rows + excluded.rows, bytes = t.bytes + excluded.bytes, masked = policy.budget_masked_add(t.masked, excluded.masked, 1);
        """;

    public static BudgetLedger Create(string connectionString, TimeProvider clock) =>
        new(new NpgsqlDataSourceBuilder(connectionString).Build(), clock);

    /// <summary>One budget a request is decided on: its rule, the request's scope, and where its window and bucket are now.</summary>
    private sealed record Key(string Rule, string Scope, DateTimeOffset Since, DateTimeOffset Bucket, long? RequestLimit)
    {
        public static Key Of(Budget budget, RequestReceived request, DateTimeOffset now) =>
            new(budget.RuleId, budget.ScopeOf(request), now - budget.Window, budget.BucketOf(now), budget.RequestLimit);

        public string Lock => $"budget:{Rule}:{Scope}";
    }

    /// <summary>
    /// Creates the tables, then reads a budget that has no charges once, so the first request to decide does not pay for
    /// opening the pool and preparing the reads (a decision has a deadline of a few seconds).
    /// </summary>
    public async Task CreateSchemaAsync(CancellationToken cancellationToken)
    {
        await using (var connection = await database.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            await using (var command = new NpgsqlCommand(Schema, connection, transaction))
                await command.ExecuteNonQueryAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        var now = clock.GetUtcNow();
        // A limit of zero reserves nothing.
        _ = await ReserveAsync(Guid.Empty, [new Key("warm-up", "none", now, now, 0)], true, cancellationToken);
    }

    /// <summary>
    /// Decides <paramref name="request"/> with <paramref name="decide"/> over the standing of every budget it could draw on,
    /// and charges it to those it does draw on. A requests limit is exact across policy instances: the request is reserved
    /// on each budget that has room in the same statement that reads the totals, under a lock per budget and scope, so
    /// two decisions never both take the last request of a budget.
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
        var now = clock.GetUtcNow();
        var keys = budgets.Select(b => Key.Of(b, request, now)).ToArray();
        var (totals, reserved) = await ReserveAsync(request.RequestId, keys,
            budgets.Any(b => b.Limits.Any(l => l.Entity is not null)), cancellationToken);
        var decision = decide(BudgetUsage.Of(totals, now));
        var draws = BudgetDraws.Of(policy, request, decision).Select(d => d.RuleId).ToHashSet(StringComparer.Ordinal);
        // A reservation the decision does not draw on is given back (a request denied after all); a budget it draws on
        // without a reservation (spent, and the request sent to approval, as before) is charged now.
        var adjust = keys.Where(k => reserved.Contains(k.Rule) != draws.Contains(k.Rule))
            .Select(k => (k, Delta: draws.Contains(k.Rule) ? 1L : -1L)).ToArray();
        if (adjust.Length > 0) await AdjustAsync(request.RequestId, adjust, cancellationToken);
        if (draws.Count > 0) await RecordAsync(request.RequestId, now, [.. keys.Where(k => draws.Contains(k.Rule))], cancellationToken);
        return decision;
    }

    /// <summary>
    /// The first statements of a batch that writes a budget's shared totals: a commit that does not wait for the disk (its
    /// locks are released at once, not after a flush), and the budgets' locks, taken in one order so two decisions that
    /// share budgets never wait on each other. What such a batch writes is made durable by the durable commit after it
    /// (<see cref="RecordAsync"/>: the write-ahead log is flushed in order), or is only ever on the safe side if lost.
    /// </summary>
    private static NpgsqlBatch LockedBatch(NpgsqlConnection connection, IEnumerable<Key> keys)
    {
        var batch = new NpgsqlBatch(connection);
        batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT set_config('synchronous_commit', 'off', true)"));
        var locks = new NpgsqlBatchCommand(
            "SELECT pg_advisory_xact_lock(hashtextextended(key, 0)) FROM unnest(@keys) AS k(key) ORDER BY key");
        locks.Parameters.AddWithValue("keys", keys.Select(k => k.Lock).Distinct().ToArray());
        batch.BatchCommands.Add(locks);
        return batch;
    }

    /// <summary>
    /// Reads each budget's totals in its window, by bucket, and reserves the request on every budget whose requests limit
    /// (if any) has room and that has not charged it yet (a redelivered request): one round trip, one transaction. The
    /// totals are those before the reservation; the rules reserved are returned with them.
    /// </summary>
    private async Task<(Dictionary<string, IReadOnlyList<BudgetCharge>> Totals, HashSet<string> Reserved)> ReserveAsync(Guid requestId,
        IReadOnlyList<Key> keys, bool masked, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var batch = LockedBatch(connection, keys);
        // Each statement of the batch sees what was committed before it started, so this one, after the locks, sees every
        // reservation made before it on these budgets.
        var reserve = new NpgsqlBatchCommand("""
            WITH b AS (SELECT * FROM unnest(@rules, @scopes, @since, @buckets, @limits) AS b(rule_id, scope, since, bucket, request_limit)),
            used AS (
                SELECT b.rule_id, b.scope, b.bucket, b.request_limit, coalesce(sum(t.requests), 0) AS requests
                FROM b LEFT JOIN policy.budget_totals t ON t.rule_id = b.rule_id AND t.scope = b.scope AND t.bucket > b.since
                GROUP BY b.rule_id, b.scope, b.bucket, b.request_limit),
            reserved AS (
                INSERT INTO policy.budget_totals AS t (rule_id, scope, bucket, part, requests)
                SELECT u.rule_id, u.scope, u.bucket, 0, 1 FROM used u
                WHERE (u.request_limit IS NULL OR u.requests < u.request_limit)
                  AND NOT EXISTS (SELECT FROM policy.budget_charges c WHERE c.request_id = @request AND c.rule_id = u.rule_id)
                ON CONFLICT (rule_id, scope, bucket, part) DO UPDATE SET requests = t.requests + 1
                RETURNING t.rule_id)
            SELECT t.rule_id, t.bucket, sum(t.requests)::bigint, sum(t.rows)::bigint, sum(t.bytes)::bigint,
                   CASE WHEN @masked THEN policy.budget_masked_sum(t.masked)::text END
            FROM b JOIN policy.budget_totals t ON t.rule_id = b.rule_id AND t.scope = b.scope AND t.bucket > b.since
            GROUP BY t.rule_id, t.bucket
            UNION ALL
            SELECT rule_id, NULL, 0, 0, 0, NULL FROM reserved
            """);
        reserve.Parameters.AddWithValue("request", requestId);
        reserve.Parameters.AddWithValue("rules", keys.Select(k => k.Rule).ToArray());
        reserve.Parameters.AddWithValue("scopes", keys.Select(k => k.Scope).ToArray());
        reserve.Parameters.Add(Instants("since", keys.Select(k => k.Since)));
        reserve.Parameters.Add(Instants("buckets", keys.Select(k => k.Bucket)));
        reserve.Parameters.Add(new NpgsqlParameter("limits", NpgsqlDbType.Array | NpgsqlDbType.Bigint)
            { Value = keys.Select(k => k.RequestLimit).ToArray() });
        reserve.Parameters.AddWithValue("masked", masked);
        batch.BatchCommands.Add(reserve);

        var totals = new Dictionary<string, List<BudgetCharge>>(StringComparer.Ordinal);
        var reserved = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        // Past the results of set_config and the locks.
        for (var skipped = 0; skipped < 2; skipped++) await reader.NextResultAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var rule = reader.GetString(0);
            if (reader.IsDBNull(1))
            {
                reserved.Add(rule);
                continue;
            }
            if (!totals.TryGetValue(rule, out var list)) totals[rule] = list = [];
            list.Add(Charge(reader, 1));
        }
        return (totals.ToDictionary(t => t.Key, t => (IReadOnlyList<BudgetCharge>)t.Value, StringComparer.Ordinal), reserved);
    }

    /// <summary>Gives back reservations (-1) or charges budgets a request was not reserved on (+1, unless it was charged already).</summary>
    private async Task AdjustAsync(Guid requestId, IReadOnlyList<(Key Key, long Delta)> adjust, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken);
        await using var batch = LockedBatch(connection, adjust.Select(a => a.Key));
        var change = new NpgsqlBatchCommand("""
            INSERT INTO policy.budget_totals AS t (rule_id, scope, bucket, part, requests)
            SELECT b.rule_id, b.scope, b.bucket, 0, b.delta FROM unnest(@rules, @scopes, @buckets, @deltas) AS b(rule_id, scope, bucket, delta)
            WHERE b.delta < 0 OR NOT EXISTS (SELECT FROM policy.budget_charges c WHERE c.request_id = @request AND c.rule_id = b.rule_id)
            ON CONFLICT (rule_id, scope, bucket, part) DO UPDATE SET requests = t.requests + excluded.requests
            """);
        change.Parameters.AddWithValue("request", requestId);
        change.Parameters.AddWithValue("rules", adjust.Select(a => a.Key.Rule).ToArray());
        change.Parameters.AddWithValue("scopes", adjust.Select(a => a.Key.Scope).ToArray());
        change.Parameters.Add(Instants("buckets", adjust.Select(a => a.Key.Bucket)));
        change.Parameters.AddWithValue("deltas", adjust.Select(a => a.Delta).ToArray());
        batch.BatchCommands.Add(change);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Records the request's charges, one row per budget it draws on, in a durable commit before the gateway gets its
    /// answer; it also makes the reservation before it durable. A redelivered request is charged once (and keeps its
    /// first decision's time).
    /// </summary>
    private async Task RecordAsync(Guid requestId, DateTimeOffset now, IReadOnlyList<Key> drawn, CancellationToken cancellationToken)
    {
        await using var charge = database.CreateCommand("""
            INSERT INTO policy.budget_charges (request_id, rule_id, scope, charged_at, bucket, requests)
            SELECT @request, d.rule_id, d.scope, @at, d.bucket, 1 FROM unnest(@rules, @scopes, @buckets) AS d(rule_id, scope, bucket)
            ON CONFLICT (request_id, rule_id) DO NOTHING
            """);
        charge.Parameters.AddWithValue("request", requestId);
        charge.Parameters.AddWithValue("at", now.UtcDateTime);
        charge.Parameters.AddWithValue("rules", drawn.Select(k => k.Rule).ToArray());
        charge.Parameters.AddWithValue("scopes", drawn.Select(k => k.Scope).ToArray());
        charge.Parameters.Add(Instants("buckets", drawn.Select(k => k.Bucket)));
        await charge.ExecuteNonQueryAsync(cancellationToken);
    }

    private static NpgsqlParameter Instants(string name, IEnumerable<DateTimeOffset> instants) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.TimestampTz) { Value = instants.Select(i => i.UtcDateTime).ToArray() };

    /// <summary>A bucket's totals as one charge at the bucket's end, from the columns bucket, requests, rows, bytes, masked::text (or null) from <paramref name="first"/>.</summary>
    private static BudgetCharge Charge(NpgsqlDataReader reader, int first) =>
        new(reader.GetFieldValue<DateTimeOffset>(first), reader.GetInt64(first + 1), reader.GetInt64(first + 2), reader.GetInt64(first + 3),
            reader.IsDBNull(first + 4) ? new Dictionary<string, long>()
                : JsonSerializer.Deserialize<Dictionary<string, long>>(reader.GetString(first + 4)) ?? []);

    /// <summary>Which of the completion rows of a bucket a request's completion and masking report add to.</summary>
    private static short CompletionPart(Guid requestId) => (short)(1 + (uint)requestId.GetHashCode() % CompletionParts);

    /// <summary>
    /// How a charged request ended: one that ran keeps its request and adds its output's size and rows; one that did not
    /// run (refused, waiting for an approval, unavailable) is taken off the requests count. The change to the charge is
    /// added to the totals of the bucket it was counted in.
    /// </summary>
    public async Task CompletedAsync(RequestCompleted completed, CancellationToken cancellationToken)
    {
        var ran = completed.Outcome is Outcomes.Completed or Outcomes.UpstreamFailed;
        // The charge's row is locked first, so its values before the change are those the change replaces.
        await using var command = database.CreateCommand("""
            WITH old AS (
                SELECT request_id, rule_id, requests, rows, bytes FROM policy.budget_charges WHERE request_id = @request FOR UPDATE),
            changed AS (
                UPDATE policy.budget_charges c SET requests = @requests, bytes = @bytes, rows = @rows FROM old
                WHERE c.request_id = old.request_id AND c.rule_id = old.rule_id
                RETURNING c.rule_id, c.scope, c.bucket, c.requests - old.requests AS requests, c.rows - old.rows AS rows,
                          c.bytes - old.bytes AS bytes)
            INSERT INTO policy.budget_totals AS t (rule_id, scope, bucket, part, requests, rows, bytes)
            SELECT rule_id, scope, bucket, @part, requests, rows, bytes FROM changed
            WHERE bucket IS NOT NULL AND (requests <> 0 OR rows <> 0 OR bytes <> 0)
            ON CONFLICT (rule_id, scope, bucket, part) DO UPDATE
                SET requests = t.requests + excluded.requests, rows = t.rows + excluded.rows, bytes = t.bytes + excluded.bytes
            """);
        command.Parameters.AddWithValue("request", completed.RequestId);
        command.Parameters.AddWithValue("requests", ran ? 1L : 0L);
        command.Parameters.AddWithValue("bytes", ran ? completed.Output?.Size ?? 0L : 0L);
        command.Parameters.AddWithValue("rows", ran ? completed.Rows ?? 0L : 0L);
        command.Parameters.AddWithValue("part", CompletionPart(completed.RequestId));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The values masked in a charged request's output, by entity type.</summary>
    public async Task MaskedAsync(ResponseMasked masked, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("""
            WITH old AS (SELECT request_id, rule_id, masked FROM policy.budget_charges WHERE request_id = @request FOR UPDATE),
            changed AS (
                UPDATE policy.budget_charges c SET masked = @masked FROM old
                WHERE c.request_id = old.request_id AND c.rule_id = old.rule_id
                RETURNING c.rule_id, c.scope, c.bucket, policy.budget_masked_add(c.masked, old.masked, -1) AS masked)
            INSERT INTO policy.budget_totals AS t (rule_id, scope, bucket, part, masked)
            SELECT rule_id, scope, bucket, @part, masked FROM changed WHERE bucket IS NOT NULL AND masked <> '{}'
            ON CONFLICT (rule_id, scope, bucket, part) DO UPDATE SET masked = policy.budget_masked_add(t.masked, excluded.masked, 1)
            """);
        command.Parameters.AddWithValue("request", masked.RequestId);
        command.Parameters.Add(new NpgsqlParameter("masked", NpgsqlDbType.Jsonb)
            { Value = JsonSerializer.Serialize(masked.CountsByEntity.ToDictionary(c => c.Key, c => (long)c.Value)) });
        command.Parameters.AddWithValue("part", CompletionPart(masked.RequestId));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The totals in the window of <paramref name="budget"/> by scope and bucket (at most <paramref name="scopes"/> scopes,
    /// most recently charged first), optionally of one scope: what the admin view shows. Reads without locking.
    /// </summary>
    public async Task<IReadOnlyList<(string Scope, IReadOnlyList<BudgetCharge> Charges)>> ReadWindowAsync(Budget budget,
        string? scope, int scopes, CancellationToken cancellationToken)
    {
        await using var read = database.CreateCommand("""
            WITH recent AS (
                SELECT scope, max(bucket) AS last FROM policy.budget_totals
                WHERE rule_id = @rule AND bucket > @since AND (@scope::text IS NULL OR scope = @scope)
                GROUP BY scope ORDER BY last DESC LIMIT @scopes)
            SELECT t.scope, t.bucket, sum(t.requests)::bigint, sum(t.rows)::bigint, sum(t.bytes)::bigint,
                   policy.budget_masked_sum(t.masked)::text
            FROM policy.budget_totals t JOIN recent r ON r.scope = t.scope
            WHERE t.rule_id = @rule AND t.bucket > @since
            GROUP BY r.last, t.scope, t.bucket
            ORDER BY r.last DESC, t.scope, t.bucket
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

    /// <summary>
    /// Deletes up to <paramref name="batch"/> charges and up to as many bucket totals made before <paramref name="before"/>;
    /// the larger of the two counts deleted.
    /// </summary>
    public async Task<int> PruneAsync(DateTimeOffset before, int batch, CancellationToken cancellationToken)
    {
        // In batches, so a large backlog never holds long locks.
        await using var charges = database.CreateCommand("""
            DELETE FROM policy.budget_charges c USING (
                SELECT request_id, rule_id FROM policy.budget_charges WHERE charged_at < @before LIMIT @batch) old
            WHERE c.request_id = old.request_id AND c.rule_id = old.rule_id
            """);
        charges.Parameters.AddWithValue("before", before.UtcDateTime);
        charges.Parameters.AddWithValue("batch", batch);
        var deleted = await charges.ExecuteNonQueryAsync(cancellationToken);
        await using var totals = database.CreateCommand("""
            DELETE FROM policy.budget_totals t USING (
                SELECT rule_id, scope, bucket, part FROM policy.budget_totals WHERE bucket < @before LIMIT @batch) old
            WHERE t.rule_id = old.rule_id AND t.scope = old.scope AND t.bucket = old.bucket AND t.part = old.part
            """);
        totals.Parameters.AddWithValue("before", before.UtcDateTime);
        totals.Parameters.AddWithValue("batch", batch);
        return Math.Max(deleted, await totals.ExecuteNonQueryAsync(cancellationToken));
    }

    public ValueTask DisposeAsync() => database.DisposeAsync();
}
