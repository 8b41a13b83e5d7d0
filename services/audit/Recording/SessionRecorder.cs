using Marten;
using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

/// <summary>Appends an event to its session's stream; the stream is created by its first event.</summary>
public sealed class SessionRecorder(IDocumentSession session)
{
    public async Task Record(IRequestMessage message, Guid? messageId, CancellationToken cancellationToken)
    {
        if (messageId is { } id) session.CorrelationId = id.ToString();
        session.Events.Append(message.SessionId, message);
        await session.SaveChangesAsync(cancellationToken);
    }
}
