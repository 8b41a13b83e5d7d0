using Npgsql;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Gateway.Connectors.Postgres;

/// <summary>
/// Views (and materialized views) over masked columns. A view's result columns carry the view's origin, not the
/// base table's, so a masking rule on demo.customers.ssn would not reach a view that selects it, and the policy
/// cannot see through a view without the catalogue. So, before the agent's statement runs, in its transaction, the
/// gateway follows every relation the policy named (the decision's obligations) through pg_rewrite and pg_depend,
/// view over view, down to the base columns, and refuses the statement when any of them is masked. A whole-row
/// reference (row_to_json(c)) records no column dependency, so a view whose query holds one (a Var with attribute
/// number 0 in its rule) counts as reading every column of every table it depends on. Unqualified names match views
/// in any schema.
/// </summary>
public sealed class MaskedViews(MaskedColumnRules rules)
{
    // The masked columns of a connection follow from the configuration alone: worked out once per connection.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, MaskedColumns> _masked = new(StringComparer.Ordinal);

    private const string Dependencies = """
        WITH RECURSIVE named AS (
            SELECT c.oid, n.nspname, c.relname
            FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
            WHERE c.relkind OPERATOR(pg_catalog.=) ANY ('{v,m}'::pg_catalog."char"[])
                AND (c.relname::pg_catalog.text OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
                     OR pg_catalog.concat(n.nspname, '.', c.relname) OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]))
        ), reads AS (
            SELECT named.oid AS viewid, d.refobjid AS relid,
                CASE WHEN r.ev_action::pg_catalog.text OPERATOR(pg_catalog.~~) '%:varattno 0 %' THEN 0 ELSE d.refobjsubid END AS attnum
            FROM named
            JOIN pg_catalog.pg_rewrite r ON r.ev_class OPERATOR(pg_catalog.=) named.oid
            JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                AND d.objid OPERATOR(pg_catalog.=) r.oid
                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.refobjid OPERATOR(pg_catalog.<>) r.ev_class
            UNION
            SELECT reads.viewid, d.refobjid,
                CASE WHEN r.ev_action::pg_catalog.text OPERATOR(pg_catalog.~~) '%:varattno 0 %' THEN 0 ELSE d.refobjsubid END
            FROM reads
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) reads.relid
                AND c.relkind OPERATOR(pg_catalog.=) ANY ('{v,m}'::pg_catalog."char"[])
            JOIN pg_catalog.pg_rewrite r ON r.ev_class OPERATOR(pg_catalog.=) c.oid
            JOIN pg_catalog.pg_depend d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
                AND d.objid OPERATOR(pg_catalog.=) r.oid
                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                AND d.refobjid OPERATOR(pg_catalog.<>) r.ev_class
        )
        SELECT named.nspname, named.relname, n.nspname, c.relname, a.attname
        FROM reads
        JOIN named ON named.oid OPERATOR(pg_catalog.=) reads.viewid
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) reads.relid
        JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
        LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) reads.relid
            AND a.attnum OPERATOR(pg_catalog.=) reads.attnum AND reads.attnum OPERATOR(pg_catalog.>) 0
        """;

    /// <summary>
    /// The catalogue query that vets <paramref name="relations"/>, to run in the statement's transaction before it (the
    /// connector sends it in one round trip with the transaction's settings), or null when there is nothing to vet.
    /// Throws <see cref="MaskedViewException"/> when the connection has masked columns and the decision named no relations.
    /// </summary>
    public NpgsqlBatchCommand? Query(string connection, IReadOnlyList<string>? relations)
    {
        // Columns masked by their names count too (a view renaming a password column would hand it out under its own
        // name, which masking does not reach), as they do in the policy's flow check.
        if (Masked(connection).IsEmpty) return null;
        if (relations is null)
            // The policy names the relations whenever the connection has masked columns; without them nothing can be vetted.
            throw new MaskedViewException(
                "The policy decision did not name the relations this statement reads, so views over masked columns cannot be " +
                "ruled out (the policy and gateway may hold different masking sections); nothing was run.");
        if (relations.Count == 0) return null;
        var command = new NpgsqlBatchCommand(Dependencies);
        command.Parameters.Add(new NpgsqlParameter { Value = relations.ToArray() });
        return command;
    }

    /// <summary>Why the statement may not run, from the rows of <see cref="Query"/> (the reader on its result), or null.</summary>
    public async Task<string?> RefusalAsync(string connection, NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var masked = Masked(connection);
        while (await reader.ReadAsync(cancellationToken))
        {
            var view = $"{reader.GetString(0)}.{reader.GetString(1)}";
            var (schema, table) = (reader.GetString(2), reader.GetString(3));
            var column = reader.IsDBNull(4) ? null : reader.GetString(4);
            var pattern = column is null ? masked.AnyMaskedColumn(schema, table) : masked.Find(schema, table, column);
            if (pattern is null) continue;
            var parts = pattern.Split('.');
            var example = column ?? (parts.Length >= 3 ? parts[2] : "the column");
            return $"{view} is a view over the masked column {schema}.{table}.{column ?? "(whole row)"} (masking rule column " +
                   $"'{pattern}'), and a view's columns come back with the view's origin, which the masking rule does not reach. " +
                   $"Read the base table instead: select the column bare, e.g. SELECT {example} FROM {schema}.{table}, to get its masked value.";
        }
        return null;
    }

    private MaskedColumns Masked(string connection) =>
        _masked.GetOrAdd(connection, name => MaskedColumns.For(rules, name).WithNamedColumns());
}

/// <summary>The statement names a view over a masked column; nothing was run.</summary>
public sealed class MaskedViewException(string message) : Exception(message);
