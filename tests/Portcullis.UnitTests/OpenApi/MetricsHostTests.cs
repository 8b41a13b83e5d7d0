using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Portcullis.UnitTests.OpenApi;

/// <summary>
/// /metrics names the policy's rules and connections: a deployment can keep it off the gateway's public port with
/// Metrics:Hosts, so only the scraper's port answers it.
/// </summary>
public class MetricsHostTests
{
    [Fact]
    public async Task Metrics_answer_on_any_host_by_default()
    {
        await using var gateway = new ServiceHost<Portcullis.Gateway.Apis.SqlRequest>();
        using var client = gateway.CreateClient();
        var answer = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task With_metrics_hosts_set_the_public_port_does_not_find_metrics_and_the_scrape_port_does()
    {
        await using var gateway = new ServiceHost<Portcullis.Gateway.Apis.SqlRequest>();
        await using var restricted = gateway.WithWebHostBuilder(builder => builder.UseSetting("Metrics:Hosts", "*:9464"));

        using var publicPort = restricted.CreateDefaultClient(new Uri("http://localhost:5000"));
        Assert.Equal(HttpStatusCode.NotFound, (await publicPort.GetAsync("/metrics")).StatusCode);

        using var scrapePort = restricted.CreateDefaultClient(new Uri("http://localhost:9464"));
        var scraped = await scrapePort.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scraped.StatusCode);
        Assert.Contains("# TYPE", await scraped.Content.ReadAsStringAsync());
    }
}
