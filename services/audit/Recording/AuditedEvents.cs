using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

public static class AuditedEvents
{
    /// <summary>Every contract event that goes into a session's stream, each from its own fanout exchange.</summary>
    public static readonly Type[] Types =
    [
        typeof(RequestReceived), typeof(PolicyEvaluated), typeof(ApprovalRequested), typeof(ApprovalGranted),
        typeof(ApprovalDenied), typeof(ApprovalExpired), typeof(ApprovalClaimed), typeof(GrantRevoked),
        typeof(RequestForwarded), typeof(ResponseMasked), typeof(RequestCompleted), typeof(PolicyPublished),
        typeof(McpToolDefinitionPinned), typeof(McpToolDefinitionChanged), typeof(McpToolDefinitionAccepted),
        typeof(RequestSequenceVoided),
    ];

    /// <summary>MassTransit's name for a message type: its exchange, and its URN in an envelope's messageType.</summary>
    public static string ExchangeOf(Type type) => $"{type.Namespace}:{type.Name}";

    public static readonly IReadOnlyDictionary<string, Type> ByUrn =
        Types.ToDictionary(type => "urn:message:" + ExchangeOf(type), StringComparer.Ordinal);
}
