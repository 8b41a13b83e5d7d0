using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace Portcullis.Audit.Recording;

/// <summary>
/// The tamper evidence of a session's stream: each event's hash covers its message id, its type, its
/// content (as canonical JSON: keys sorted, since PostgreSQL's jsonb reorders them) and the hash of the
/// event before it. Changing, removing or reordering any stored event breaks every hash after it. An event stored
/// in its escaped form (<see cref="StorableForm"/>, marked by the <see cref="EscapedHeader"/> header) is hashed as
/// its original: the chain covers what was sent, not what PostgreSQL could keep.
/// </summary>
public static class AuditChain
{
    public const string Genesis = "genesis";
    public const string HashHeader = "hash";
    public const string PreviousHashHeader = "previous_hash";
    public const string MessageIdHeader = "message_id";
    public const string EscapedHeader = "escaped";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <param name="escaped">
    /// Whether <paramref name="data"/> is an event's escaped form, to be hashed as the original it escapes; throws
    /// <see cref="FormatException"/> when a string in it is not a valid escape.
    /// </param>
    public static string Hash(string previousHash, string messageId, string type, object data, bool escaped = false) =>
        HashJson(previousHash, messageId, type, Serialize(data), escaped);

    /// <summary>The event's JSON as the chain reads it (System.Text.Json, web defaults), for <see cref="HashJson"/>.</summary>
    public static byte[] Serialize(object data) => JsonSerializer.SerializeToUtf8Bytes(data, data.GetType(), Json);

    /// <summary><see cref="Hash"/> of an event already serialized by <see cref="Serialize"/>.</summary>
    public static string HashJson(string previousHash, string messageId, string type, ReadOnlyMemory<byte> json, bool escaped = false)
    {
        var text = new ArrayBufferWriter<byte>(1024);
        Encoding.UTF8.GetBytes($"{previousHash}\n{messageId}\n{type}\n", text);
        using (var content = JsonDocument.Parse(json))
        using (var writer = new Utf8JsonWriter(text))
            WriteCanonical(content.RootElement, writer, escaped);
        return Convert.ToHexStringLower(SHA256.HashData(text.WrittenSpan));
    }

    private static string Original(string stored, bool escaped) =>
        !escaped || !stored.StartsWith(StorableText.Marker, StringComparison.Ordinal) ? stored
        : StorableText.TryUnescape(stored, out var original) ? original
        : throw new FormatException("A string of an escaped event is not a valid escape.");

    /// <summary>
    /// Compact JSON with every object's keys in ordinal order and strings escaped by the default encoder, so
    /// the same content always gives the same text whatever order its keys were stored or read in.
    /// </summary>
    private static void WriteCanonical(JsonElement element, Utf8JsonWriter writer, bool escaped)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = element.EnumerateObject().Select(p => (Name: Original(p.Name, escaped), p.Value)).ToArray();
                Array.Sort(properties, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                writer.WriteStartObject();
                foreach (var (name, value) in properties)
                {
                    writer.WritePropertyName(name);
                    WriteCanonical(value, writer, escaped);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray()) WriteCanonical(item, writer, escaped);
                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(Original(element.GetString()!, escaped));
                break;
            default: // numbers as written, true, false, null
                element.WriteTo(writer);
                break;
        }
    }
}

/// <summary>The head of a session's chain: the last hash, updated with every append (optimistic concurrency).</summary>
public sealed class SessionChain
{
    public string Id { get; set; } = "";
    public string LastHash { get; set; } = AuditChain.Genesis;
    public long Events { get; set; }
}

/// <summary>
/// The exactly-once keys: the message id of every event stored, in a plain table of its own (a Marten
/// document per key cost more to write than the event itself). Keys outlive their sessions' archiving, so a
/// late redelivery of an archived session's message is still recognised.
/// </summary>
public static class RecordedMessages
{
    public const string Schema = "audit";
    public const string TableName = "recorded_messages";

    /// <summary>Which of the given message ids (one text[] parameter) are already stored.</summary>
    public const string Seen = $"SELECT id FROM {Schema}.{TableName} WHERE id = ANY(?)";

    /// <summary>Stores a batch's keys: message ids and their session ids, as two text[] parameters of equal length.</summary>
    public const string Insert = $"INSERT INTO {Schema}.{TableName} (id, session_id) SELECT * FROM unnest(?::text[], ?::text[])";

    public static Table Table()
    {
        var table = new Table(new PostgresqlObjectName(Schema, TableName, Weasel.Postgresql.SchemaUtils.IdentifierUsage.General));
        table.AddColumn<string>("id").AsPrimaryKey();
        table.AddColumn<string>("session_id").NotNull();
        return table;
    }
}
