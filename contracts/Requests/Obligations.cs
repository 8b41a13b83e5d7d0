namespace Portcullis.Contracts;

/// <summary>
/// Conditions the gateway enforces on an action it runs: the strictest of every rule that matched. On a SQL
/// connection with masked columns, <paramref name="Relations"/> names every relation the statement reads or writes
/// ("schema.name" when qualified); the gateway refuses the statement when one is a view over a masked column.
/// On an MCP call whose SQL argument a rule analysed, <paramref name="ColumnOrigins"/> maps each output name of the
/// statement's outermost SELECT that is a masked column to the masked column patterns it may hold (several: the name
/// is ambiguous, the strictest rule applies); the masking service masks the values under those keys of the result.
/// </summary>
public sealed record Obligations(int? MaxRows, bool ReadOnly, int? StatementTimeoutMs, long? MaxOutputBytes,
    IReadOnlyList<string>? Relations = null, IReadOnlyDictionary<string, IReadOnlyList<string>>? ColumnOrigins = null)
{
    public static readonly Obligations None = new(null, false, null, null);
}
