using System.Net;
using System.Net.Sockets;
using System.Text;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>The edge: no open proxy, and upstream credentials from a Dapr secret store when a sidecar is configured.</summary>
[Collection(StackCollection.Name)]
public sealed class EdgeTests(PortcullisStack stack)
{
    [Theory]
    [InlineData("GET http://exfil.example/http/demo/customers/1?probe={0} HTTP/1.1", "exfil.example")]
    [InlineData("GET /http/demo/customers/1?probe={0} HTTP/1.1", "exfil.example:443")]
    public async Task Absolute_uris_and_host_headers_never_choose_where_a_request_goes(string requestLine, string host)
    {
        var probe = Guid.NewGuid().ToString("N");
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", stack.Gateway.BaseAddress!.Port);
        await using var stream = tcp.GetStream();
        var raw = string.Format(requestLine, probe) + $"\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nX-Session-Id: e2e-edge\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(raw));
        var response = await new StreamReader(stream).ReadToEndAsync();

        // Either refused, or forwarded to the connection's own upstream: never to the named host.
        var status = int.Parse(response.Split(' ', 3)[1]);
        if (status == 200) Assert.Single(await stack.UpstreamRequests(), r => r.Query?.Contains(probe) == true);
        else Assert.InRange(status, 400, 499);
    }

    [Fact]
    public async Task Upstream_credentials_come_from_the_dapr_secret_store_when_a_sidecar_is_configured()
    {
        var secrets = new Dictionary<string, string> { ["DEMO_API_KEY"] = stack.UpstreamSecrets["DEMO_API_KEY"] };
        await using var dapr = await DaprRuntimeEndpoint.StartAsync("portcullis-secrets", secrets, ServiceProcess.FreePort());
        var (gateway, client) = await stack.StartExtraGatewayAsync("gateway-dapr", new()
        {
            ["DAPR_GRPC_ENDPOINT"] = $"http://127.0.0.1:{dapr.Port}",
            ["DAPR_HTTP_ENDPOINT"] = $"http://127.0.0.1:{dapr.Port}",
            ["Secrets__DaprStore"] = "portcullis-secrets",
            ["Secrets__File"] = "", // only the sidecar holds the key now
        });
        await using var _ = gateway;
        using var __ = client;

        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1", "e2e-dapr");
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // the upstream accepted the key from Dapr
        Assert.Contains(("portcullis-secrets", "DEMO_API_KEY"), dapr.Requests);
    }
}
