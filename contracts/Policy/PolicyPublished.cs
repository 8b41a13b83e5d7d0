namespace Portcullis.Contracts;

/// <summary>
/// A new policy version is in force. <see cref="RequestId"/> identifies the change; <see cref="SessionId"/> is
/// the admin's session, so every admin change is in the audit record like any other action.
/// </summary>
public sealed record PolicyPublished(
    Guid RequestId,
    string SessionId,
    int Version,
    string ContentHash,
    string PublishedBy,
    string? Comment,
    int RuleCount,
    DateTimeOffset PublishedAt) : IRequestMessage;
