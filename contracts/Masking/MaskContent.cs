namespace Portcullis.Contracts;

/// <summary>
/// Command from the gateway to the masking service: mask this output of a connection, and the upstream's
/// response headers when it has them. Answered with <see cref="ContentMasked"/> to the sender only; the raw
/// body is never published. <paramref name="ColumnOrigins"/>: for an MCP tool's SQL rows, the output names whose values
/// column rules mask (see <see cref="Obligations.ColumnOrigins"/>).
/// </summary>
public sealed record MaskContent(
    Guid RequestId,
    string SessionId,
    string Connection,
    string ContentType,
    byte[] Body,
    IReadOnlyDictionary<string, string[]>? Headers = null,
    IReadOnlyDictionary<string, IReadOnlyList<string>>? ColumnOrigins = null) : IRequestMessage;
