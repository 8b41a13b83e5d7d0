using System.Text;
using Portcullis.Audit.Recording;

namespace Portcullis.UnitTests.Audit;

public class AuditIngestorReadTests
{
    private const string Received = "urn:message:Portcullis.Contracts:RequestReceived";

    private static string Envelope(string messageId, string message, string type = Received) =>
        $$"""{"messageId":{{messageId}},"messageType":["{{type}}"],"message":{{message}}}""";

    private const string GoodMessage = """{"requestId":"7b0e6f9c-1d2a-4b3c-8d4e-5f6a7b8c9d0e","sessionId":"s-1","principal":{"subject":"a","groups":[]},"action":{"protocol":"sql","connection":"w","sql":"SELECT 1\u0000"},"receivedAt":"2026-12-02T15:00:00Z","sessionSequence":3}""";

    [Fact]
    public void A_good_event_with_a_nul_in_its_content_is_read()
    {
        var arrival = AuditIngestor.Read(Encoding.UTF8.GetBytes(Envelope("\"m-1\"", GoodMessage)), out _);
        Assert.NotNull(arrival);
        Assert.Equal(3, ((Portcullis.Contracts.RequestReceived)arrival.Value.Message).SessionSequence);
    }

    public static TheoryData<string, byte[]> Unreadable => new()
    {
        { "not json", "{not json"u8.ToArray() },
        { "invalid utf-8 in the message id", [.. "{\"messageId\":\""u8, 0xff, 0xfe, .. "\",\"messageType\":[],\"message\":{}}"u8] },
        { "lone surrogate in the message id", Encoding.UTF8.GetBytes(Envelope("\"m\\ud800\"", GoodMessage)) },
        { "lone surrogate in the content", Encoding.UTF8.GetBytes(Envelope("\"m-1\"", GoodMessage.Replace("SELECT 1", "SELECT \\udc00"))) },
        { "nul in the message id", Encoding.UTF8.GetBytes(Envelope("\"m\\u0000\"", GoodMessage)) },
        { "nul in the session id", Encoding.UTF8.GetBytes(Envelope("\"m-1\"", GoodMessage.Replace("\"s-1\"", "\"s\\u0000\""))) },
        { "message id a number", Encoding.UTF8.GetBytes(Envelope("42", GoodMessage)) },
        { "message type not a list", Encoding.UTF8.GetBytes("""{"messageId":"m","messageType":"x","message":{}}""") },
        { "wrong field type", Encoding.UTF8.GetBytes(Envelope("\"m-1\"", GoodMessage.Replace("\"sessionSequence\":3", "\"sessionSequence\":\"three\""))) },
        { "number out of range", Encoding.UTF8.GetBytes(Envelope("\"m-1\"", GoodMessage.Replace("\"sessionSequence\":3", "\"sessionSequence\":1e400"))) },
        { "nested too deep", Encoding.UTF8.GetBytes(Envelope("\"m-1\"", GoodMessage.Replace("\"principal\":{", "\"x\":" + new string('[', 5000) + new string(']', 5000) + ",\"principal\":{"))) },
        { "an array", "[]"u8.ToArray() },
        { "empty", [] },
    };

    [Theory]
    [MemberData(nameof(Unreadable))]
    public void A_message_that_is_not_a_storable_event_is_refused_with_a_reason_not_an_exception(string name, byte[] body)
    {
        Assert.Null(AuditIngestor.Read(body, out var reason));
        Assert.False(string.IsNullOrEmpty(reason), name);
        _ = AuditIngestor.Identify(body); // and what can be read of it, without throwing either
    }
}
