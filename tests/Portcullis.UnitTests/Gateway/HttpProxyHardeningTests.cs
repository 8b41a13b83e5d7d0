using System.Net;
using System.Text;
using Microsoft.AspNetCore.Http;
using Portcullis.Gateway.Connectors.Http;

namespace Portcullis.UnitTests.Gateway;

/// <summary>The pure checks of the http proxy: request framing, upstream answers, links, and credential echoes.</summary>
public class HttpProxyHardeningTests
{
    private static HeaderDictionary Headers(params (string Name, string Value)[] headers)
    {
        var dictionary = new HeaderDictionary();
        foreach (var (name, value) in headers) dictionary.Append(name, value);
        return dictionary;
    }

    [Theory]
    [InlineData("Upgrade", "websocket")]
    [InlineData("Upgrade", "h2c")]
    [InlineData("upgrade", "WebSocket")]
    [InlineData("HTTP2-Settings", "AAMAAABkAAQAAP__")]
    [InlineData("Connection", "Upgrade")]
    [InlineData("Connection", "X-Api-Key")]
    [InlineData("Connection", "keep-alive, Authorization")]
    [InlineData("Connection", "close,X-Forwarded-For")]
    [InlineData("Connection", "TE")]
    public void Protocol_switches_and_headers_named_in_connection_are_refused(string name, string value) =>
        Assert.NotNull(RequestFraming.Problem("GET", Headers((name, value)), hasBody: false));

    [Theory]
    [InlineData("keep-alive")]
    [InlineData("close")]
    [InlineData("Keep-Alive, close")]
    public void Connection_options_for_the_agents_own_connection_pass(string value) =>
        Assert.Null(RequestFraming.Problem("GET", Headers(("Connection", value)), hasBody: false));

    [Theory]
    [InlineData("GET", true, false)]
    [InlineData("get", true, false)]
    [InlineData("HEAD", true, false)]
    [InlineData("GET", false, true)]
    [InlineData("POST", true, true)]
    [InlineData("DELETE", true, true)]
    public void A_body_on_get_or_head_is_refused(string method, bool hasBody, bool passes) =>
        Assert.Equal(passes, RequestFraming.Problem(method, Headers(), hasBody) is null);

    private static HttpResponseMessage Answer(HttpStatusCode status, params (string Name, string Value)[] headers)
    {
        var response = new HttpResponseMessage(status) { Content = new ByteArrayContent([]) };
        foreach (var (name, value) in headers)
            if (!response.Headers.TryAddWithoutValidation(name, value)) response.Content.Headers.TryAddWithoutValidation(name, value);
        return response;
    }

    [Theory]
    [InlineData(101, null, null)]
    [InlineData(103, null, null)]
    [InlineData(206, null, null)]
    [InlineData(200, "Content-Range", "bytes 0-9/100")]
    [InlineData(200, "Content-Encoding", "gzip")]
    [InlineData(200, "Content-Encoding", "br")]
    [InlineData(200, "Content-Encoding", "deflate")]
    [InlineData(200, "Content-Encoding", "zstd")]
    [InlineData(200, "Content-Encoding", "gzip, br")]
    [InlineData(200, "Content-Encoding", "identity")]
    [InlineData(200, "Content-Encoding", "g zip ;;")]
    [InlineData(200, "Transfer-Encoding", "gzip, chunked")]
    public void Answers_masking_cannot_read_through_are_refused(int status, string? name, string? value)
    {
        using var answer = name is null ? Answer((HttpStatusCode)status) : Answer((HttpStatusCode)status, (name, value!));
        Assert.NotNull(UpstreamAnswer.Problem(answer));
    }

    [Fact]
    public void A_plain_answer_passes()
    {
        using var answer = Answer(HttpStatusCode.OK, ("Transfer-Encoding", "chunked"));
        Assert.Null(UpstreamAnswer.Problem(answer));
    }

    [Theory]
    [InlineData("text/plain", """{"billing":{"address":"x"}}""", "application/json")]
    [InlineData("text/plain; charset=utf-8", """ [1,2] """, "application/json; charset=utf-8")]
    [InlineData("", """{"a":1}""", "application/json")]
    [InlineData("text/html", "\uFEFF{\"a\":1}", "application/json")]
    [InlineData("text/plain", "{not json", "text/plain")]
    [InlineData("text/plain", "hello", "text/plain")]
    [InlineData("application/octet-stream", """{"a":1}""", "application/octet-stream")] // refused by the masker, unread
    [InlineData("application/json", """{"a":1}""", "application/json")]
    public void A_body_labelled_text_that_is_json_is_masked_as_json(string contentType, string body, string expected) =>
        Assert.Equal(expected, UpstreamAnswer.MaskAs(contentType, Encoding.UTF8.GetBytes(body)));

    private static readonly Uri Requested = new("http://10.0.0.5:8080/api/customers/1?x=1");
    private static readonly Uri Base = new("http://10.0.0.5:8080/api/");

    [Theory]
    [InlineData("/api/customers/2", "/http/crm/customers/2")]
    [InlineData("2/billing", "/http/crm/customers/2/billing")]
    [InlineData("http://10.0.0.5:8080/api/customers/2?page=3", "/http/crm/customers/2?page=3")]
    [InlineData("http://user:s3cret@10.0.0.5:8080/api/customers/2", "/http/crm/customers/2")]
    [InlineData("HTTP://10.0.0.5:8080/api", "/http/crm/")]
    public void A_location_inside_the_connection_is_rewritten_through_the_gateway(string location, string expected) =>
        Assert.Equal(expected, UpstreamAnswer.Rewrite(location, Requested, Base, "/http/crm"));

    [Theory]
    [InlineData("http://evil.example/steal")]
    [InlineData("//evil.example/steal")]
    [InlineData("https://10.0.0.5:8080/api/customers/2")]
    [InlineData("http://10.0.0.5:8081/api/customers/2")]
    [InlineData("http://10.0.0.5:8080/admin")]
    [InlineData("/admin/config")]
    [InlineData("/api/../admin")]
    [InlineData("file:///etc/passwd")]
    [InlineData("gopher://10.0.0.5:6379/_FLUSHALL")]
    [InlineData("javascript:alert(1)")]
    [InlineData("http://10.0.0.5:8080@evil.example/api/")]
    [InlineData("/api/x\r\nSet-Cookie: a=b")]
    [InlineData("http://[::1]/api/")]
    public void A_location_outside_the_connection_is_dropped(string location) =>
        Assert.Null(UpstreamAnswer.Rewrite(location, Requested, Base, "/http/crm"));

    [Theory]
    [InlineData("0; url=http://evil.example/", null)]
    [InlineData("5;URL='file:///etc/passwd'", null)]
    [InlineData("3; url=/api/customers/2", "3; url=/http/crm/customers/2")]
    [InlineData("10", "10")]
    [InlineData("junk", null)]
    public void A_refresh_leads_through_the_connection_or_is_dropped(string refresh, string? expected) =>
        Assert.Equal(expected, UpstreamAnswer.RewriteRefresh(refresh, Requested, Base, "/http/crm"));

    private const string Key = "demo-key-0123456789ABCDEF01234567";

    [Theory]
    [InlineData("""{"headers":{"X-Api-Key":"demo-key-0123456789ABCDEF01234567"}}""")]
    [InlineData("key=demo-key-0123456789ABCDEF01234567")]
    public void A_body_that_echoes_the_credential_is_caught(string body) =>
        Assert.True(UpstreamCredentials.Echoed([Key], Encoding.UTF8.GetBytes(body), []));

    [Theory]
    [InlineData("")]
    [InlineData("agent:")]
    [InlineData("a:")]
    public void The_credential_in_base64_is_caught_at_any_alignment(string prefix)
    {
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes(prefix + Key + ":tail"));
        Assert.True(UpstreamCredentials.Echoed([Key], Encoding.UTF8.GetBytes($"{{\"auth\":\"Basic {encoded}\"}}"), []));
    }

    [Fact]
    public void A_header_that_echoes_the_credential_is_caught() =>
        Assert.True(UpstreamCredentials.Echoed([Key], [], ["http://10.0.0.5/next?key=" + Uri.EscapeDataString(Key)]));

    [Fact]
    public void An_answer_without_the_credential_passes() =>
        Assert.False(UpstreamCredentials.Echoed([Key, "short"], Encoding.UTF8.GetBytes("""{"note":"a short answer"}"""), ["x"]));
}
