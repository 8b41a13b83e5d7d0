namespace Portcullis.Contracts;

/// <summary>
/// The agent got its answer. <see cref="Output"/> is what the agent saw, masked and capped.
/// Outcome is one of <see cref="Outcomes"/>. <see cref="Rows"/> counts the rows a SQL action returned (null for
/// other actions), for the policy's budgets.
/// </summary>
public sealed record RequestCompleted(
    Guid RequestId,
    string SessionId,
    string Outcome,
    int StatusCode,
    double DurationMs,
    CapturedOutput? Output,
    DateTimeOffset CompletedAt,
    long? Rows = null) : IRequestMessage;
