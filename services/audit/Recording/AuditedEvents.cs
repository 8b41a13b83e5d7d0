using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

public static class AuditedEvents
{
    /// <summary>Every contract event that goes into a session's stream.</summary>
    public static readonly Type[] Types =
    [
        typeof(RequestReceived), typeof(PolicyEvaluated), typeof(ApprovalRequested), typeof(ApprovalGranted),
        typeof(ApprovalDenied), typeof(ApprovalExpired), typeof(RequestForwarded), typeof(ResponseMasked),
        typeof(RequestCompleted), typeof(PolicyPublished),
    ];
}
