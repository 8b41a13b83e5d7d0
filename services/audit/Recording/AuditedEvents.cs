using MassTransit;

namespace Portcullis.Audit.Recording;

public static class AuditedEvents
{
    /// <summary>
    /// Every contract event that goes into a session's stream: exactly those the consumer consumes, read off
    /// its interfaces, so the store and the consumer cannot disagree.
    /// </summary>
    public static readonly Type[] Types =
    [
        .. typeof(SessionEventConsumer).GetInterfaces()
            .Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IConsumer<>))
            .Select(i => i.GetGenericArguments()[0]),
    ];
}
