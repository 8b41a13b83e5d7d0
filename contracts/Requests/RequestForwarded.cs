namespace Portcullis.Contracts;

/// <summary>The gateway executed the action upstream and got an answer (not yet masked).</summary>
public sealed record RequestForwarded(
    Guid RequestId,
    string SessionId,
    string Connection,
    string Upstream,
    int StatusCode,
    long ResponseBytes,
    double DurationMs,
    DateTimeOffset ForwardedAt) : IRequestMessage;
