using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

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
        var canonical = Canonical(JsonSerializer.SerializeToNode(data, data.GetType(), Json))?.ToJsonString() ?? "null";
        var text = $"{previousHash}\n{messageId}\n{type}\n{canonical}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray array => new JsonArray([.. array.Select(Canonical)]),
        JsonValue value => JsonNode.Parse(value.ToJsonString()),
        _ => null,
    };
}

/// <summary>The head of a session's chain: the last hash, updated with every append (optimistic concurrency).</summary>
public sealed class SessionChain
{
    public string Id { get; set; } = "";
    public string LastHash { get; set; } = AuditChain.Genesis;
    public long Events { get; set; }
}

/// <summary>A message already stored: redelivery of the same message id stores nothing.</summary>
public sealed class RecordedMessage
{
    public string Id { get; set; } = "";
    public string SessionId { get; set; } = "";
}
