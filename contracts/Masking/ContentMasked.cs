namespace Portcullis.Contracts;

/// <summary>The masking service's answer to <see cref="MaskContent"/>: the masked body and what was found.</summary>
public sealed record ContentMasked(
    Guid RequestId,
    string SessionId,
    byte[] Body,
    IReadOnlyDictionary<string, int> CountsByEntity,
    IReadOnlyDictionary<string, string[]>? Headers = null) : IRequestMessage;
