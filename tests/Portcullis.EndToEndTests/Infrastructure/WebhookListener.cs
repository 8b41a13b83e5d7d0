using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>A real HTTP listener standing in for a Slack incoming webhook: it keeps every JSON body posted to it.</summary>
public sealed class WebhookListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<JsonElement> Received { get; } = new();
    public string Url { get; }

    private WebhookListener(WebApplication app, string url) => (_app, Url) = (app, url);

    public static async Task<WebhookListener> StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenLocalhost(port));
        var app = builder.Build();
        var listener = new WebhookListener(app, $"http://localhost:{port}/hooks/approvals");
        app.MapPost("/hooks/approvals", async context =>
        {
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            listener.Received.Enqueue(body.RootElement.Clone());
            context.Response.StatusCode = StatusCodes.Status200OK;
            await context.Response.WriteAsync("ok");
        });
        await app.StartAsync();
        return listener;
    }

    /// <summary>The first message that satisfies <paramref name="match"/>, waiting for it to arrive.</summary>
    public async Task<JsonElement> WaitForAsync(Func<JsonElement, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            foreach (var message in Received)
                if (match(message)) return message;
            await Task.Delay(100);
        }
        throw new Xunit.Sdk.XunitException($"No matching webhook message arrived within {timeout}; got {Received.Count}.");
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
