namespace Portcullis.Contracts;

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
