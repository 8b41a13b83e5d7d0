using Npgsql;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The SQL attack corpora of /sql (Corpus/sql-capabilities.txt, Corpus/sql-masked-columns.txt, read by their own test
/// classes) again through the gateway's PostgreSQL port with Npgsql: what /sql refuses is an ErrorResponse 42501 naming
/// the same rule, what /sql masks comes back masked, and no answer holds a masked column's raw value. The wire path is
/// never weaker than /sql.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PostgresWireCorpusTests(PortcullisStack stack)
{
    private static string NewSession(string name) => $"e2e-wire-{name}-" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>
    /// Runs a statement and reads every value it returns as text; a refusal is the PostgresException. A 57P03 (the
    /// gateway could not decide in time on a busy machine; nothing ran) is sent again, as the /sql corpus does with 503.
    /// </summary>
    private static async Task<(PostgresException? Error, List<(uint Table, short Attribute)> Columns, List<string> Values)> Run(
        NpgsqlConnection connection, string sql)
    {
        for (var attempt = 1; ; attempt++)
        {
            var columns = new List<(uint, short)>();
            var values = new List<string>();
            try
            {
                await using var command = new NpgsqlCommand(sql, connection) { AllResultTypesAreUnknown = true };
                await using var reader = await command.ExecuteReaderAsync();
                do
                {
                    if (reader.FieldCount == 0) continue;
                    columns.AddRange(reader.GetColumnSchema().Select(c => (c.TableOID, (short)(c.ColumnAttributeNumber ?? 0))));
                    while (await reader.ReadAsync())
                        for (var i = 0; i < reader.FieldCount; i++)
                            if (!reader.IsDBNull(i)) values.Add(reader.GetString(i));
                } while (await reader.NextResultAsync());
                return (null, columns, values);
            }
            catch (PostgresException ex) when (ex.SqlState == "57P03" && attempt < 5)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
            catch (PostgresException ex)
            {
                return (ex, columns, values);
            }
        }
    }

    [Theory]
    [MemberData(nameof(SqlCapabilityCorpusTests.Cases), MemberType = typeof(SqlCapabilityCorpusTests))]
    public async Task Capability_corpus_through_the_wire(string group, string sql, string decision, string rule)
    {
        await using var connection = await WireAgent.ConnectAsync(stack, NewSession("corpus"));
        var (error, _, _) = await Run(connection, sql);
        if (decision == "allow")
        {
            Assert.True(error is null, $"[{group}] a benign statement did not run: {error?.SqlState} {error?.MessageText}");
            return;
        }
        Assert.True(error is { SqlState: "42501" } && error.MessageText.StartsWith($"Denied by policy rule '{rule}'", StringComparison.Ordinal),
            $"[{group}] expected a 42501 refusal by {rule}, got {(error is null ? "a result" : $"{error.SqlState} {error.MessageText}")}");
    }

    [Fact]
    public async Task Masked_column_corpus_through_the_wire_has_the_effects_it_has_on_sql()
    {
        await MaskedColumnCorpusTests.CreateViewsAsync(stack);
        var raw = await MaskedColumnCorpusTests.RawValuesAsync(stack);
        var maskedColumns = await MaskedColumnsAsync();
        await using var connection = await WireAgent.ConnectAsync(stack, NewSession("masked-corpus"));
        var failures = new List<string>();
        foreach (var @case in MaskedColumnCorpusTests.LoadCorpus())
        {
            var (error, columns, values) = await Run(connection, @case.Sql);
            var refused = error is { SqlState: "42501" };
            var why = @case.Effect switch
            {
                "refuse" => !refused || !error!.MessageText.StartsWith("Denied by policy rule '", StringComparison.Ordinal)
                    ? "expected a 42501 naming a policy rule"
                    : error.MessageText.StartsWith($"Denied by policy rule '{MaskedColumnCorpusTests.FlowRule}'", StringComparison.Ordinal)
                      && !error.MessageText.Contains("to get its masked value", StringComparison.Ordinal)
                        ? "the refusal does not say how to select the column" : null,
                "refuse-view" => refused && error!.MessageText.Contains("view over a masked column", StringComparison.Ordinal)
                    ? null : "expected a 42501 masked-view refusal",
                "allow" => error is null ? null : "expected a result",
                "error" => error is not null ? null : "expected an error",
                "masked" => error is not null ? "expected a result"
                    : columns.Any(maskedColumns.Contains) ? null : "expected a column from a masked column (RowDescription's table and attribute)",
                _ => $"unknown effect '{@case.Effect}'",
            };
            var answer = error is null ? string.Join(" | ", values) : $"{error.MessageText} {error.Detail}";
            if (raw.FirstOrDefault(v => answer.Contains(v, StringComparison.OrdinalIgnoreCase)) is { } leaked)
                why = (why is null ? "" : why + "; ") + $"the answer holds the raw value '{leaked}'";
            if (why is not null)
                failures.Add($"{@case.File} line {@case.Line} ({@case.Effect}) {@case.Sql}\n    {why}\n    {error?.SqlState} {MaskedColumnCorpusTests.Truncate(answer)}");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} corpus cases failed through the wire:\n" + string.Join("\n", failures));
    }

    /// <summary>The (table OID, attribute number) of each masked column, as RowDescription names a column's origin.</summary>
    private async Task<HashSet<(uint, short)>> MaskedColumnsAsync()
    {
        await using var connection = new NpgsqlConnection(stack.AdminConnectionString);
        await connection.OpenAsync();
        var columns = new HashSet<(uint, short)>();
        foreach (var origin in MaskedColumnCorpusTests.MaskedOrigins)
        {
            var parts = origin.Split('.');
            await using var command = new NpgsqlCommand(
                "SELECT attrelid::oid, attnum FROM pg_attribute WHERE attrelid = ($1 || '.' || $2)::regclass AND attname = $3", connection);
            command.Parameters.AddWithValue(parts[0]);
            command.Parameters.AddWithValue(parts[1]);
            command.Parameters.AddWithValue(parts[2]);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) columns.Add(((uint)reader.GetFieldValue<uint>(0), reader.GetInt16(1)));
        }
        return columns;
    }
}
