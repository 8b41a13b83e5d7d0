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
