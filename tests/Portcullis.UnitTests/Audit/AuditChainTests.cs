using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Portcullis.Audit.Recording;
using Portcullis.Contracts;

namespace Portcullis.UnitTests.Audit;

public class AuditChainTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 28, 17, 0, 0, 123, TimeSpan.Zero);

    public static TheoryData<string, object> Messages => new()
    {
        { "forwarded", new RequestForwarded(Guid.Parse("0d6f1e9a-3c55-4d54-9a43-5d1f8e0b7a11"), "s-1", "demo", "http://upstream", 200, 1234, 0.1, At) },
        { "received, nested and unicode", new RequestReceived(Guid.Parse("7b0e6f9c-1d2a-4b3c-8d4e-5f6a7b8c9d0e"), "s-2",
            new Principal("agent <7> & 'co'", null, ["analysts", "Ωmega", "emoji 🐍"]),
            new AgentAction(Protocols.Sql, "warehouse", Sql: "SELECT \"name\" FROM t WHERE note = 'a\\b'\n\tAND x > 1e-7"), At) },
        { "masked, dictionaries in any order", new ResponseMasked(Guid.Empty, "s-3",
            new Dictionary<string, int> { ["Email"] = 3, ["CreditCard"] = 1, ["aws_secret"] = 2, ["Zeta"] = 0 },
            ["rule-b", "rule-a"], 1L << 40, 0, At, new Dictionary<string, int> { ["z"] = 1, ["A"] = 2 }, null) },
        { "numbers", new { small = 1e-7, big = 1.7976931348623157e308, negative = -0.0, whole = 12345678901234L, third = 1.0 / 3 } },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void Canonical_hash_is_the_same_as_the_json_node_form_it_replaced(string name, object message)
    {
        var expected = ReferenceHash(AuditChain.Genesis, "m-" + name, message.GetType().Name, message);
        Assert.Equal(expected, AuditChain.Hash(AuditChain.Genesis, "m-" + name, message.GetType().Name, message));
    }

    [Fact]
    public void Key_order_does_not_change_the_hash_but_any_value_does()
    {
        var a = JsonSerializer.Deserialize<JsonElement>("""{"b":1,"a":{"y":[1,"x"],"x":null}}""");
        var reordered = JsonSerializer.Deserialize<JsonElement>("""{"a":{"x":null,"y":[1,"x"]},"b":1}""");
        var changed = JsonSerializer.Deserialize<JsonElement>("""{"a":{"x":null,"y":[1,"X"]},"b":1}""");
        Assert.Equal(AuditChain.Hash("p", "m", "T", a), AuditChain.Hash("p", "m", "T", reordered));
        Assert.NotEqual(AuditChain.Hash("p", "m", "T", a), AuditChain.Hash("p", "m", "T", changed));
        Assert.NotEqual(AuditChain.Hash("p", "m", "T", a), AuditChain.Hash("q", "m", "T", a));
    }

    // The first implementation, kept as the reference: stored chains were hashed with it, so the faster one
    // must give the same text for every message, or verify would fail on every session recorded before.
    private static string ReferenceHash(string previousHash, string messageId, string type, object data)
    {
        var canonical = Canonical(JsonSerializer.SerializeToNode(data, data.GetType(), new JsonSerializerOptions(JsonSerializerDefaults.Web)))
            ?.ToJsonString() ?? "null";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{previousHash}\n{messageId}\n{type}\n{canonical}")));
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
