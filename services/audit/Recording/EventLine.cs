using System.Text.Json;
using JasperFx.Events;

namespace Portcullis.Audit.Recording;

/// <summary>
/// One recorded event as a line of JSON Lines, the same for the export API and for retention archives: its
/// place in the record, its type and time, its chain links and its data.
/// </summary>
public static class EventLine
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The line's bytes, newline included.</summary>
    public static byte[] Serialize(IEvent e)
    {
        var line = JsonSerializer.SerializeToUtf8Bytes(new
        {
            sequence = e.Sequence, sessionId = e.StreamKey, version = e.Version, type = e.EventType.Name, recordedAt = e.Timestamp,
            messageId = e.Headers?.GetValueOrDefault(AuditChain.MessageIdHeader)?.ToString(),
            previousHash = e.Headers?.GetValueOrDefault(AuditChain.PreviousHashHeader)?.ToString(),
            hash = e.Headers?.GetValueOrDefault(AuditChain.HashHeader)?.ToString(),
            data = e.Data,
        }, Json);
        return [.. line, (byte)'\n'];
    }
}
