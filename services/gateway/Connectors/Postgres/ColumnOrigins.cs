using System.Collections.Concurrent;
using Npgsql;

namespace Portcullis.Gateway.Connectors.Postgres;

/// <summary>
/// Where a result column comes from, "schema.table.column", resolved from the table OID and attribute
/// number PostgreSQL sends with every result column, once per connection and column, then cached. Aliases
/// (SELECT email AS e) keep their origin, so column masking rules hold whatever the agent names them.
/// </summary>
public sealed class ColumnOrigins
{
    private readonly ConcurrentDictionary<(string Connection, uint Table, short Attribute), string> _cache = new();

    public string? Get(string connection, uint table, short attribute) =>
        table == 0 ? null : _cache.GetValueOrDefault((connection, table, attribute));

    /// <summary>Looks up the origins not cached yet, in one query on the open connection.</summary>
    /// <remarks>
    /// It runs after the agent's statement, on its connection and in its transaction, so under whatever search_path the
    /// agent set: every function, operator and type is named in pg_catalog, or an = of another schema put before pg_catalog
    /// could drop a column's origin (and with it its masking) or cache a wrong one for every later request.
    /// </remarks>
    public async Task ResolveAsync(string connection, NpgsqlConnection database, NpgsqlTransaction? transaction,
        IEnumerable<(uint Table, short Attribute)> columns, CancellationToken cancellationToken)
    {
        var missing = columns.Where(c => c.Table != 0 && !_cache.ContainsKey((connection, c.Table, c.Attribute))).Distinct().ToArray();
        if (missing.Length == 0) return;
        await using var command = new NpgsqlCommand("""
            SELECT a.attrelid, a.attnum, n.nspname, c.relname, a.attname
            FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.oid[]), pg_catalog.unnest($2::pg_catalog.int2[])) AS wanted(relid, num)
            JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) wanted.relid
                AND a.attnum OPERATOR(pg_catalog.=) wanted.num
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) a.attrelid
            JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
            """, database, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = missing.Select(c => c.Table).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Oid });
        command.Parameters.Add(new NpgsqlParameter { Value = missing.Select(c => c.Attribute).ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            _cache[(connection, reader.GetFieldValue<uint>(0), reader.GetInt16(1))] =
                $"{reader.GetString(2)}.{reader.GetString(3)}.{reader.GetString(4)}";
    }
}
