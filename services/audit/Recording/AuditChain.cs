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
/// event before it. Changing, removing or reordering any stored event breaks every hash after it.
/// </summary>
public static class AuditChain
{
    public const string Genesis = "genesis";
    public const string HashHeader = "hash";
    public const string PreviousHashHeader = "previous_hash";
    public const string MessageIdHeader = "message_id";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static string Hash(string previousHash, string messageId, string type, object data)
    {
        var text = new ArrayBufferWriter<byte>(1024);
        Encoding.UTF8.GetBytes($"{previousHash}\n{messageId}\n{type}\n", text);
        using (var content = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(data, data.GetType(), Json)))
        using (var writer = new Utf8JsonWriter(text))
            WriteCanonical(content.RootElement, writer);
        return Convert.ToHexStringLower(SHA256.HashData(text.WrittenSpan));
    }

    /// <summary>
    /// Compact JSON with every object's keys in ordinal order and strings escaped by the default encoder, so
    /// the same content always gives the same text whatever order its keys were stored or read in.
    /// </summary>
    private static void WriteCanonical(JsonElement element, Utf8JsonWriter writer)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var properties = element.EnumerateObject().ToArray();
                Array.Sort(properties, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
                writer.WriteStartObject();
                foreach (var property in properties)
                {
                    writer.WritePropertyName(property.Name);
                    WriteCanonical(property.Value, writer);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray()) WriteCanonical(item, writer);
                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(element.GetString());
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
