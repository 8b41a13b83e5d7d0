using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Portcullis.EndToEndTests.Stack;

/// <summary>
/// An agent's MCP session on the stack's gateway through the official C# SDK client: many tool calls in one session,
/// as one agent run makes them. <see cref="Headers"/> go on every HTTP request of the session from the moment they are
/// set (a forged Host, a rewriting header), to show none of them reaches a target or an answer.
/// </summary>
public sealed class McpAgent : IAsyncDisposable
{
    // Per stack (the fault suite links PortcullisStack without the MCP client, so the sessions are kept here).
    private static readonly ConditionalWeakTable<PortcullisStack, ConcurrentDictionary<string, Lazy<Task<McpAgent>>>> Shared = new();

    private readonly McpClient _client;
    private readonly ExtraHeaders _headers;

    private McpAgent(McpClient client, ExtraHeaders headers) => (_client, _headers) = (client, headers);

    public string SessionId => _client.SessionId!;

    /// <summary>Headers added to each request of the session (set between calls; a test class runs its cases one by one).</summary>
    public Dictionary<string, string> Headers => _headers.Values;

    /// <summary>
    /// One agent session per name for the whole run (a corpus's cases share one, as one agent run's tool calls do); it
    /// ends with the stack's gateway.
    /// </summary>
    public static Task<McpAgent> SharedSession(PortcullisStack stack, string name, string client = PortcullisStack.AgentClient) =>
        Shared.GetOrCreateValue(stack).GetOrAdd(name, _ => new Lazy<Task<McpAgent>>(() => ConnectAsync(stack, client))).Value;

    /// <summary>A plain official C# SDK client on the gateway's /mcp with the named client's token.</summary>
    public static async Task<McpClient> ClientAsync(PortcullisStack stack, string client) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(stack.Gateway.BaseAddress!, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {await stack.TokenFor(client)}" },
        }));

    public static async Task<McpAgent> ConnectAsync(PortcullisStack stack, string client = PortcullisStack.AgentClient)
    {
        var headers = new ExtraHeaders { InnerHandler = new SocketsHttpHandler() };
        var http = new HttpClient(headers) { Timeout = TimeSpan.FromMinutes(3) };
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(stack.Gateway.BaseAddress!, "mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {await stack.TokenFor(client)}" },
        }, http, loggerFactory: null, ownsHttpClient: true);
        return new McpAgent(await McpClient.CreateAsync(transport), headers);
    }

    /// <summary>
    /// Calls a tool. An answer that says no decision arrived in time (503: nothing ran) is asked again, for up to 30 s,
    /// as the HTTP corpora do: the first decisions of a cold service on a shared machine can pass the test deadline.
    /// </summary>
    public async Task<CallToolResult> CallAsync(string tool, Dictionary<string, object?> arguments)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var result = await _client.CallToolAsync(tool, arguments);
            if (result.IsError != true || !Text(result).Contains("(503)", StringComparison.Ordinal) || DateTime.UtcNow > until)
                return result;
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }

    public static string Text(CallToolResult result) =>
        string.Join("\n", result.Content.OfType<TextContentBlock>().Select(c => c.Text));

    public ValueTask DisposeAsync() => _client.DisposeAsync();

    private sealed class ExtraHeaders : DelegatingHandler
    {
        public Dictionary<string, string> Values { get; } = new(StringComparer.OrdinalIgnoreCase);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            foreach (var (name, value) in Values)
            {
                if (string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase)) request.Headers.Host = value;
                else
                {
                    request.Headers.Remove(name);
                    request.Headers.TryAddWithoutValidation(name, value);
                }
            }
            return base.SendAsync(request, cancellationToken);
        }
    }
}
