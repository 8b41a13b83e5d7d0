namespace Portcullis.Contracts;

/// <summary>An output was masked: counts by entity type and the rules applied, never a raw value.</summary>
public sealed record ResponseMasked(
    Guid RequestId,
    string SessionId,
    IReadOnlyDictionary<string, int> CountsByEntity,
    IReadOnlyList<string> RulesApplied,
    long InputBytes,
    long OutputBytes,
    DateTimeOffset MaskedAt) : IRequestMessage;
