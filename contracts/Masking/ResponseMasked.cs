namespace Portcullis.Contracts;

/// <summary>An output was masked: counts by entity type and by rule ("detector:email", "rule:customers-email"), never a raw value.</summary>
public sealed record ResponseMasked(
    Guid RequestId,
    string SessionId,
    IReadOnlyDictionary<string, int> CountsByEntity,
    IReadOnlyList<string> RulesApplied,
    long InputBytes,
    long OutputBytes,
    DateTimeOffset MaskedAt,
    IReadOnlyDictionary<string, int>? CountsByRule = null,
    string? Connection = null) : IRequestMessage;
