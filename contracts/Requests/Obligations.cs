namespace Portcullis.Contracts;

/// <summary>
/// Conditions the gateway enforces on an action it runs: the strictest of every rule that matched. On a SQL
/// connection with masked columns, <paramref name="Relations"/> names every relation the statement reads or writes
/// ("schema.name" when qualified); the gateway refuses the statement when one is a view over a masked column.
/// </summary>
public sealed record Obligations(int? MaxRows, bool ReadOnly, int? StatementTimeoutMs, long? MaxOutputBytes,
    IReadOnlyList<string>? Relations = null)
{
    public static readonly Obligations None = new(null, false, null, null);
}
