using System.Net;
using System.Text;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;
using RabbitMQ.Client;

namespace Portcullis.EndToEndTests;

/// <summary>Teams read audit events with any AMQP client: here a plain RabbitMQ.Client consumer, no MassTransit.</summary>
[Collection(StackCollection.Name)]
public sealed class SubscriptionTests(PortcullisStack stack)
{
    [Fact]
    public async Task A_plain_amqp_consumer_reads_request_completed_events_from_the_documented_exchange()
    {
        var factory = new ConnectionFactory { Uri = new Uri(stack.RabbitMq) };
        await using var connection = await factory.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var queue = (await channel.QueueDeclareAsync("", durable: false, exclusive: true, autoDelete: true)).QueueName;
        await channel.QueueBindAsync(queue, "Portcullis.Contracts:RequestCompleted", routingKey: "");

        var session = "e2e-subscriber-" + Guid.NewGuid().ToString("N")[..8];
        using (var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/3", session))
        using (var response = await stack.Gateway.SendAsync(request))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            var delivery = await channel.BasicGetAsync(queue, autoAck: true);
            if (delivery is null) { await Task.Delay(100); continue; }
            var envelope = JsonDocument.Parse(Encoding.UTF8.GetString(delivery.Body.Span)).RootElement;
            var message = envelope.GetProperty("message");
            if (message.GetProperty("sessionId").GetString() != session) continue;
            Assert.Contains("urn:message:Portcullis.Contracts:RequestCompleted",
                envelope.GetProperty("messageType").EnumerateArray().Select(t => t.GetString()));
            Assert.Equal("completed", message.GetProperty("outcome").GetString());
            Assert.Contains("[EMAIL]", message.GetProperty("output").GetProperty("preview").GetString());
            return;
        }
        Assert.Fail("No RequestCompleted for the session reached the plain AMQP consumer.");
    }
}
