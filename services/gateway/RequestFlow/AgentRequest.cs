using System.Diagnostics;
using Portcullis.Contracts;

namespace Portcullis.Gateway.RequestFlow;

/// <summary>One agent request as it crosses the gateway; kept in the HttpContext's features.</summary>
public sealed class AgentRequest(Guid requestId, string sessionId, AgentAction action)
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public Guid RequestId { get; } = requestId;
    public string SessionId { get; } = sessionId;
    public AgentAction Action { get; } = action;

    /// <summary>This request's number in its session (1, 2, 3...), stamped on its RequestReceived.</summary>
    public long SessionSequence { get; init; }

    /// <summary>The approval the agent presented when it re-sent a request that waited for one.</summary>
    public Guid? PresentedApprovalId { get; init; }

    /// <summary>What the allowing decision obliges the gateway to enforce.</summary>
    public Obligations Obligations { get; set; } = Obligations.None;

    /// <summary>Set by whoever writes the agent's response: see <see cref="Outcomes"/>.</summary>
    public string Outcome { get; set; } = Outcomes.Completed;

    /// <summary>Exactly the bytes the agent was sent (masked), for the audit record.</summary>
    public byte[]? Output { get; set; }
    public string OutputContentType { get; set; } = "";

    /// <summary>Rows a SQL action returned (null for other actions), recorded for the policy's budgets.</summary>
    public long? Rows { get; set; }

    public double ElapsedMs => Stopwatch.GetElapsedTime(_started).TotalMilliseconds;

    private long _upstreamStarted;

    /// <summary>How long the upstream took to answer, when the action reached it (for the latency and overhead metrics).</summary>
    public double? UpstreamMs { get; private set; }

    /// <summary>How long the request waited for a human's approval (not the gateway's overhead).</summary>
    public double ApprovalWaitMs { get; set; }

    public void UpstreamStarted() => _upstreamStarted = Stopwatch.GetTimestamp();

    /// <summary>Marks the upstream's answer as read; the first mark counts.</summary>
    public void UpstreamAnswered()
    {
        if (_upstreamStarted != 0 && UpstreamMs is null) UpstreamMs = Stopwatch.GetElapsedTime(_upstreamStarted).TotalMilliseconds;
    }
}
