using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Portcullis.EndToEndTests.Infrastructure;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// A session sequence number spent on a request the gateway refused because the broker was gone is recorded as
/// voided once the broker is back, so the session's chain verifies: nothing ran, nothing was lost.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SequenceVoidTests(PortcullisStack stack)
{
    [Fact]
    public async Task A_request_refused_while_the_broker_is_gone_is_voided_and_the_session_still_verifies()
    {
        var session = "e2e-void-" + Guid.NewGuid().ToString("N")[..8];
        var broker = new Uri(stack.RabbitMq);
        await using var link = new CuttableLink(broker.Host, broker.Port);
        // A gateway of its own reaches the broker through the link; strict recording off, so the refusal is the
        // broker's absence at the request, not the watcher's (which refuses before a number is taken).
        var (gateway, client) = await stack.StartExtraGatewayAsync("gateway-broker-link", new()
        {
            ["ConnectionStrings__RabbitMq"] = new UriBuilder(broker) { Port = link.Port }.Uri.ToString(),
            ["Gateway__RequireAudit"] = "false",
        });
        await using var _ = gateway;
        using var __ = client;

        var first = await UntilServedAsync(client, session);
        link.Cut();
        HttpStatusCode refused;
        try
        {
            using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/2", session);
            using var response = await client.SendAsync(request);
            refused = response.StatusCode;
        }
        finally
        {
            link.Restore();
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused);
        var last = await UntilServedAsync(client, session);

        // Every request answered is in the timeline, the refused one as voided; then the chain verifies.
        var timeline = await TimelineAsync(session, t => t.GetProperty("steps").EnumerateArray().Count(s =>
            Text(s, "outcome") is not null) >= first + last + 1);
        var steps = timeline.GetProperty("steps").EnumerateArray().ToList();
        var voided = steps.Where(s => Text(s, "voided") is not null).ToList();
        Assert.NotEmpty(voided);
        Assert.Contains(voided, s => Text(s, "voided")!.StartsWith($"sequence number {first + 1} voided: refused with 503",
            StringComparison.Ordinal));
        Assert.All(voided, s =>
        {
            Assert.Equal("unavailable", Text(s, "outcome"));
            Assert.False(s.GetProperty("executed").GetBoolean());
        });

        using var verify = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/verify");
        using var verified = await stack.Audit.SendAsync(verify);
        var result = JsonDocument.Parse(await verified.Content.ReadAsStringAsync()).RootElement;
        Assert.True(result.GetProperty("valid").GetBoolean(), result.ToString());
    }

    /// <summary>
    /// Asks until the gateway serves (a cold or reconnecting gateway refuses with 503 meanwhile, each refusal a voided
    /// number); returns how many requests it took.
    /// </summary>
    private async Task<int> UntilServedAsync(HttpClient client, string session)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/3", session);
            using var response = await client.SendAsync(request);
            if (response.StatusCode == HttpStatusCode.OK) return attempt;
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.True(attempt < 30, $"the gateway does not serve: {await response.Content.ReadAsStringAsync()}");
            await Task.Delay(1000);
        }
    }

    private static string? Text(JsonElement step, string name) =>
        step.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private async Task<JsonElement> TimelineAsync(string session, Func<JsonElement, bool> until)
    {
        JsonElement last = default;
        for (var attempt = 0; attempt < 150; attempt++)
        {
            using var request = await stack.Authorized(PortcullisStack.AuditorClient, HttpMethod.Get, $"sessions/{session}/timeline");
            using var response = await stack.Audit.SendAsync(request);
            if (response.IsSuccessStatusCode)
            {
                last = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                if (until(last)) return last;
            }
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"The timeline of session {session} did not reach the expected state; last: {last}");
    }
}
