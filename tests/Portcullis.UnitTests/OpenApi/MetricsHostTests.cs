using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;

namespace Portcullis.UnitTests.OpenApi;

/// <summary>
/// /metrics names the policy's rules and connections: a deployment keeps it off the gateway's public port with
/// Metrics:Port, so only connections to the scraper's port are answered. The gateway here listens on two real
/// sockets, since what is checked is the port a connection reached, not the Host header its caller wrote.
/// </summary>
public class MetricsHostTests
{
    [Fact]
    public async Task Metrics_answer_on_any_port_by_default()
    {
        await using var gateway = new ServiceHost<Portcullis.Gateway.Apis.SqlRequest>();
        using var client = gateway.CreateClient();
        var answer = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task With_a_metrics_port_the_public_port_does_not_find_metrics_even_with_a_forged_host_and_the_scrape_port_does()
    {
        var (publicPort, scrapePort) = (FreePort(), FreePort());
        await using var gateway = new ServiceHost<Portcullis.Gateway.Apis.SqlRequest>();
        await using var restricted = gateway.WithWebHostBuilder(builder => builder.UseSetting("Metrics:Port", scrapePort.ToString()));
        restricted.UseKestrel(options =>
        {
            options.Listen(IPAddress.Loopback, publicPort);
            options.Listen(IPAddress.Loopback, scrapePort);
        });
        restricted.StartServer();
        using var http = new HttpClient();

        // An agent on the public port, asking plainly and then naming the scrape port in the Host header.
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{publicPort}/metrics")).StatusCode);
        foreach (var host in new[] { $"127.0.0.1:{scrapePort}", $"localhost:{scrapePort}", "gateway:9464" })
        {
            using var forged = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{publicPort}/metrics") { Headers = { Host = host } };
            using var answer = await http.SendAsync(forged);
            Assert.Equal(HttpStatusCode.NotFound, answer.StatusCode);
            Assert.DoesNotContain("# TYPE", await answer.Content.ReadAsStringAsync());
        }
        // The rest of the public port is as it was.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{publicPort}/health/live")).StatusCode);

        using var scraped = await http.GetAsync($"http://127.0.0.1:{scrapePort}/metrics");
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Contains("# TYPE", await scraped.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("Metrics:Port", "metrics", "must be a port number")]
    [InlineData("Metrics:Port", "70000", "must be a port number")]
    [InlineData("Metrics:Hosts", "*:9464", "set Metrics:Port")] // the earlier setting matched the forgeable Host header
    public async Task A_metrics_setting_that_cannot_keep_metrics_off_the_public_port_stops_the_start(string key, string value, string message)
    {
        await using var gateway = new ServiceHost<Portcullis.Gateway.Apis.SqlRequest>();
        await using var misconfigured = gateway.WithWebHostBuilder(builder => builder.UseSetting(key, value));
        var refused = Assert.ThrowsAny<Exception>(() => misconfigured.CreateClient());
        Assert.Contains(message, (refused.InnerException ?? refused).Message);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
