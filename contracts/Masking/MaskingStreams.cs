namespace Portcullis.Contracts;

/// <summary>
/// Command from the gateway to any masking instance: an output too large for one message will follow in
/// chunks. Answered with <see cref="MaskingStreamOpened"/>, which names the instance's own queue for the
/// chunks (the instance keeps the masker's state between them). Headers, when given, are masked at once.
/// </summary>
public sealed record OpenMaskingStream(
    Guid RequestId,
    string SessionId,
    string Connection,
    string ContentType,
    IReadOnlyDictionary<string, string[]>? Headers = null) : IRequestMessage;

/// <summary>The masking instance that will mask the stream, by the address of its chunk queue; the headers masked.</summary>
public sealed record MaskingStreamOpened(
    Guid RequestId,
    string SessionId,
    Uri ChunkAddress,
    IReadOnlyDictionary<string, string[]>? Headers = null) : IRequestMessage;

/// <summary>
/// One chunk of an opened stream, sent (never published) to the instance's chunk queue, in order from 0;
/// the last has <paramref name="Final"/>. Answered with <see cref="ChunkMasked"/>.
/// </summary>
public sealed record MaskChunk(Guid RequestId, string SessionId, int Sequence, byte[] Bytes, bool Final) : IRequestMessage;

/// <summary>
/// What one chunk became: the masked output it completed (a value cut by the chunk's end is held back for
/// the next). With the final chunk, the counts by entity of the whole stream.
/// </summary>
public sealed record ChunkMasked(
    Guid RequestId,
    string SessionId,
    int Sequence,
    byte[] Bytes,
    IReadOnlyDictionary<string, int>? CountsByEntity = null) : IRequestMessage;
