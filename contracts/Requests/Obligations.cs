namespace Portcullis.Contracts;

/// <summary>Conditions the gateway enforces on an action it runs: the strictest of every rule that matched.</summary>
public sealed record Obligations(int? MaxRows, bool ReadOnly, int? StatementTimeoutMs, long? MaxOutputBytes)
{
    public static readonly Obligations None = new(null, false, null, null);
}
