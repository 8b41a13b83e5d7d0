namespace Portcullis.Contracts;

/// <summary>
/// One chunk of an opened stream, sent (never published) to the instance's chunk queue, in order from 0;
/// the last has <paramref name="Final"/>. Answered with <see cref="ChunkMasked"/>.
/// </summary>
public sealed record MaskChunk(Guid RequestId, string SessionId, int Sequence, byte[] Bytes, bool Final) : IRequestMessage;
