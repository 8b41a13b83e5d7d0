namespace Portcullis.Gateway.RequestFlow;

/// <summary>The gateway's own settings (section "Gateway").</summary>
public sealed class GatewayOptions
{
    /// <summary>How long a request waits for the policy decision before it is refused with 503.</summary>
    public TimeSpan DecisionTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a response waits for masking before it is withheld with 503.</summary>
    public TimeSpan MaskingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest upstream response that is masked and returned; larger ones are withheld (502).</summary>
    public int MaxResponseBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Largest message an upstream MCP server may send (one line over stdio, one answer over HTTP); a server past it is
    /// cut off and the call fails. Unset: twice <see cref="MaxResponseBytes"/> (the JSON-RPC envelope and escaping
    /// around the largest result returned, whose own size is checked exactly).
    /// </summary>
    public long? McpMaxMessageBytes { get; set; }

    /// <summary>
    /// Most notifications (progress, log messages) an upstream MCP server may send between two answers; a server past
    /// it is cut off and the call waiting on it fails.
    /// </summary>
    public int McpMaxNotifications { get; set; } = 1000;

    /// <summary>
    /// Outputs larger than this go to the masking service in chunks of this size (a stream on one masking
    /// instance), so neither a message nor the masker ever holds a whole large output.
    /// </summary>
    public int MaskingChunkBytes { get; set; } = 256 * 1024;

    /// <summary>How much of the masked output goes into the audit record (its size and hash always do).</summary>
    public int AuditPreviewBytes { get; set; } = 4096;

    /// <summary>How long a request that needs approval is held for an approver before the agent gets 202.</summary>
    public TimeSpan ApprovalWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The Retry-After given with a 202 for a pending approval.</summary>
    public TimeSpan ApprovalRetryAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Largest HTTP request body an approval can cover: the gateway holds and hashes the body of a request that needs
    /// approval, and refuses a larger one with 413.
    /// </summary>
    public int MaxApprovalBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The gateway's public base URL (e.g. <c>https://gateway.example</c>), for the links it gives out (an approval's
    /// status URL). Never taken from the caller's Host or X-Forwarded-* headers, which the caller controls; when
    /// unset, links are relative paths on the gateway.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>The approval service, for the approval status URL the gateway answers on.</summary>
    public string ApprovalServiceUrl { get; set; } = "http://127.0.0.1:5103";
}
