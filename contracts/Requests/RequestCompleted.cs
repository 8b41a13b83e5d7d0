namespace Portcullis.Contracts;

/// <summary>
/// The agent got its answer. <see cref="Output"/> is what the agent saw, masked and capped.
/// Outcome is one of <see cref="Outcomes"/>.
/// </summary>
public sealed record RequestCompleted(
    Guid RequestId,
    string SessionId,
    string Outcome,
    int StatusCode,
    double DurationMs,
    CapturedOutput? Output,
    DateTimeOffset CompletedAt) : IRequestMessage;

/// <summary>The start of an output (at most the gateway's cap), with the whole output's size and hash.</summary>
public sealed record CapturedOutput(string ContentType, string Preview, long Size, string Sha256, bool Truncated);

public static class Outcomes
{
    public const string Completed = "completed";
    public const string Denied = "denied";
    public const string ApprovalRequired = "approval_required";
    public const string ApprovalPending = "approval_pending";
    public const string Unavailable = "unavailable";
    public const string UpstreamFailed = "upstream_failed";
}
