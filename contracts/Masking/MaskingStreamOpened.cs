namespace Portcullis.Contracts;

/// <summary>The masking instance that will mask the stream, by the address of its chunk queue; the headers masked.</summary>
public sealed record MaskingStreamOpened(
    Guid RequestId,
    string SessionId,
    Uri ChunkAddress,
    IReadOnlyDictionary<string, string[]>? Headers = null) : IRequestMessage;
