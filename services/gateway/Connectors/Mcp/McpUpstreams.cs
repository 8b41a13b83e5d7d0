using System.Collections.Concurrent;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Portcullis.Defaults.Configuration;
using Microsoft.Extensions.Options;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>The upstream MCP servers of the connections of kind <c>mcp</c>, one client each, started on first use.</summary>
public sealed class McpUpstreams(PortcullisConfig config, SecretResolver secrets, IConfiguration configuration, ILoggerFactory loggers,
    IOptions<GatewayOptions> options) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, McpUpstream> _upstreams = new(StringComparer.Ordinal);

    public bool Has(string connection) =>
        config.Connections.TryGetValue(connection, out var settings) && settings.Kind == McpConnection.Kind;

    /// <summary>Raised with the connection's name when an upstream says its tools changed.</summary>
    public event Action<string>? ToolsChanged;

    public McpUpstream this[string connection] => _upstreams.GetOrAdd(connection, name =>
    {
        var upstream = new McpUpstream(name, config.Connections[name], secrets, loggers,
            // A stdio server starts in the folder of portcullis.yaml, so relative paths in its command and args mean the same
            // wherever the gateway runs from.
            Path.GetDirectoryName(Path.GetFullPath(configuration["Portcullis:ConfigPath"] ?? "portcullis.yaml")),
            // Twice the largest result returned: the JSON-RPC envelope and escaping around it; the result's size is checked exactly.
            options.Value.McpMaxMessageBytes ?? 2L * options.Value.MaxResponseBytes, options.Value.McpMaxNotifications);
        upstream.ToolsChanged += changed => ToolsChanged?.Invoke(changed.Name);
        return upstream;
    });

    public string Describe(string connection)
    {
        var settings = config.Connections[connection];
        return McpConnection.IsStdio(settings) ? $"mcp stdio: {settings.Command}" : $"mcp {settings.Url}";
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var upstream in _upstreams.Values) await upstream.DisposeAsync();
    }
}

/// <summary>
/// One upstream MCP server through the official SDK's client: over Streamable HTTP with the connection's headers
/// (secrets resolved by the gateway), or a local server started over stdio with only the environment the connection
/// gives it (never the gateway's own, which holds its credentials). A server that died or dropped its session is
/// started again on the next use; its tool list is read again when it says it changed (notifications/tools/list_changed).
/// </summary>
public sealed class McpUpstream(string name, ConnectionConfig settings, SecretResolver secrets, ILoggerFactory loggers,
    string? workingDirectory = null, long maxAnswerBytes = 2L * 8 * 1024 * 1024, int maxNotifications = 1000) : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The most items of one list (tools, resources, templates, prompts) taken from an upstream.</summary>
    public const int MaxListItems = McpToolOffer.MaxTools;

    /// <summary>The most pages of one list asked for (each page is a round trip to the upstream).</summary>
    public const int MaxListPages = 50;

    /// <summary>After a failed start, how long calls fail at once instead of starting the server again.</summary>
    private static readonly TimeSpan RestartBackoff = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _logger = loggers.CreateLogger<McpUpstream>();
    private McpClient? _client;
    private McpMessageGuard? _guard;
    private IReadOnlyList<Tool>? _tools;
    private DateTime _failedAt = DateTime.MinValue;
    private Exception? _failure;

    public string Name => name;

    /// <summary>How long one call (or listing) may take before it is abandoned.</summary>
    public TimeSpan Timeout { get; } =
        settings.Timeout is { } text && DurationText.TryParse(text, out var configured) ? configured : DefaultTimeout;

    /// <summary>Raised when the upstream says its tools changed (notifications/tools/list_changed).</summary>
    public event Action<McpUpstream>? ToolsChanged;

    /// <summary>The upstream's tools as it offers them now (at most <see cref="MaxListItems"/> of them).</summary>
    public Task<IReadOnlyList<Tool>> ToolsAsync(CancellationToken cancellationToken) =>
        RunAsync("list its tools", async (client, token) =>
        {
            if (Volatile.Read(ref _tools) is { } tools) return tools;
            tools = await PagesAsync("tools", async cursor =>
            {
                var page = await client.ListToolsAsync(new ListToolsRequestParams { Cursor = cursor }, token);
                return (page.Tools, page.NextCursor);
            });
            Volatile.Write(ref _tools, tools);
            return tools;
        }, retry: true, cancellationToken);

    /// <summary>The upstream's resources (none when it offers no resources).</summary>
    public Task<IReadOnlyList<Resource>> ResourcesAsync(CancellationToken cancellationToken) =>
        RunAsync("list its resources", async (client, token) => client.ServerCapabilities.Resources is null ? []
            : await PagesAsync("resources", async cursor =>
            {
                var page = await client.ListResourcesAsync(new ListResourcesRequestParams { Cursor = cursor }, token);
                return (page.Resources, page.NextCursor);
            }), retry: true, cancellationToken);

    /// <summary>The upstream's resource templates (none when it offers no resources).</summary>
    public Task<IReadOnlyList<ResourceTemplate>> ResourceTemplatesAsync(CancellationToken cancellationToken) =>
        RunAsync("list its resource templates", async (client, token) => client.ServerCapabilities.Resources is null ? []
            : await PagesAsync("resource templates", async cursor =>
            {
                var page = await client.ListResourceTemplatesAsync(new ListResourceTemplatesRequestParams { Cursor = cursor }, token);
                return (page.ResourceTemplates, page.NextCursor);
            }), retry: true, cancellationToken);

    /// <summary>The upstream's prompts (none when it offers no prompts).</summary>
    public Task<IReadOnlyList<Prompt>> PromptsAsync(CancellationToken cancellationToken) =>
        RunAsync("list its prompts", async (client, token) => client.ServerCapabilities.Prompts is null ? []
            : await PagesAsync("prompts", async cursor =>
            {
                var page = await client.ListPromptsAsync(new ListPromptsRequestParams { Cursor = cursor }, token);
                return (page.Prompts, page.NextCursor);
            }), retry: true, cancellationToken);

    /// <summary>
    /// A list the upstream answers page by page, asked for one page at a time and no further than
    /// <see cref="MaxListItems"/> items or <see cref="MaxListPages"/> pages: an upstream that pages on forever (or
    /// lists without end) gives a bounded list at once instead of holding the gateway until its timeout.
    /// </summary>
    private async Task<IReadOnlyList<T>> PagesAsync<T>(string what, Func<string?, Task<(IList<T> Items, string? Next)>> page)
    {
        var items = new List<T>();
        string? cursor = null;
        for (var pages = 1; ; pages++)
        {
            var (found, next) = await page(cursor);
            items.AddRange(found.Take(MaxListItems - items.Count));
            if (next is null) return items;
            if (items.Count >= MaxListItems || pages >= MaxListPages)
            {
                _logger.LogWarning("MCP connection {Connection}: its {What} are listed up to {Items} items or {Pages} pages; the rest is left out",
                    name, what, MaxListItems, MaxListPages);
                return items;
            }
            cursor = next;
        }
    }

    /// <summary>Reads the resource at the upstream's <paramref name="uri"/>.</summary>
    public Task<ReadResourceResult> ReadResourceAsync(string uri, CancellationToken cancellationToken) =>
        RunAsync("answer", (client, token) => client.ReadResourceAsync(uri, cancellationToken: token).AsTask(), retry: true, cancellationToken);

    /// <summary>Gets the prompt <paramref name="prompt"/> with its arguments.</summary>
    public Task<GetPromptResult> GetPromptAsync(string prompt, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken) =>
        RunAsync("answer", (client, token) => client.GetPromptAsync(prompt, arguments, cancellationToken: token).AsTask(), retry: true, cancellationToken);

    /// <summary>Calls <paramref name="tool"/>; a <see cref="TimeoutException"/> when it takes longer than <see cref="Timeout"/>.</summary>
    /// <remarks>
    /// A call is never sent twice: a tool may act, and a lost answer does not show that it did not. Reads (lists,
    /// resources, prompts) are asked again once on a new connection when the old one broke (an HTTP server that was
    /// restarted and forgot the session).
    /// </remarks>
    public Task<CallToolResult> CallAsync(string tool, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken,
        IProgress<ProgressNotificationValue>? progress = null) =>
        RunAsync("answer", (client, token) => client.CallToolAsync(tool, arguments, progress, cancellationToken: token).AsTask(), retry: false,
            cancellationToken);

    private async Task<T> RunAsync<T>(string what, Func<McpClient, CancellationToken, Task<T>> work, bool retry,
        CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var (client, guard) = await ClientAsync(deadline.Token);
                using var cutOff = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, guard.Token);
                try
                {
                    return await work(client, cutOff.Token);
                }
                catch (Exception ex) when (guard.Reason is { } reason && !deadline.IsCancellationRequested)
                {
                    // Cut off for what it sent (see McpMessageGuard): the call fails with why, never sent again.
                    await ForgetAsync(client, ex);
                    throw new McpCutOffException(reason, ex);
                }
                catch (Exception ex) when (IsSessionLost(ex) || IsBrokenConnection(ex))
                {
                    // The connection is gone (a restarted HTTP server no longer knows the session, a stdio pipe broke):
                    // the next use starts a new one. A request refused for its unknown session was not run, so even a
                    // tool call is sent again, once.
                    await ForgetAsync(client, ex);
                    if (attempt > 1 || !(retry || IsSessionLost(ex))) throw;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The MCP server of connection '{name}' did not {what} within {Timeout.TotalSeconds:0.#}s.");
        }
    }

    /// <summary>
    /// An HTTP server that no longer knows the session: 404 as the specification says, or the 400 "No valid session
    /// ID" error the TypeScript SDK's servers answer. The request was refused before anything ran.
    /// </summary>
    private bool IsSessionLost(Exception ex) => !McpConnection.IsStdio(settings) && ex switch
    {
        HttpRequestException { StatusCode: System.Net.HttpStatusCode.NotFound } => true,
        McpProtocolException protocol => protocol.Message.Contains("session", StringComparison.OrdinalIgnoreCase)
            && (protocol.Message.Contains("Bad Request", StringComparison.OrdinalIgnoreCase)
                || protocol.Message.Contains("Not Found", StringComparison.OrdinalIgnoreCase)),
        _ => false,
    };

    /// <summary>A failure of the connection itself, not an error the server answered (<see cref="McpProtocolException"/>).</summary>
    private static bool IsBrokenConnection(Exception ex) =>
        ex is HttpRequestException or IOException or ObjectDisposedException
        || ex is McpException and not McpProtocolException && ex.InnerException is HttpRequestException or IOException;

    private async Task ForgetAsync(McpClient broken, Exception reason)
    {
        await _gate.WaitAsync();
        try
        {
            if (!ReferenceEquals(_client, broken)) return;
            _logger.LogWarning("MCP connection {Connection} broke ({Reason}); it is opened again on the next use", name, reason.GetType().Name);
            (_client, _tools) = (null, null);
        }
        finally
        {
            _gate.Release();
        }
        try { await broken.DisposeAsync(); }
        catch (Exception ex) { _logger.LogDebug("MCP connection {Connection}: closing the broken client failed ({Reason})", name, ex.GetType().Name); }
    }

    private CancellationTokenSource Deadline(CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        return deadline;
    }

    private async Task<(McpClient Client, McpMessageGuard Guard)> ClientAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _client) is { Completion.IsCompleted: false } running && Volatile.Read(ref _guard) is { Reason: null } guarding)
            return (running, guarding);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_client is { Completion.IsCompleted: false } current && _guard is { Reason: null } currentGuard) return (current, currentGuard);
            if (_client is { } dead)
            {
                var details = dead.Completion.IsCompleted ? await dead.Completion : null;
                _logger.LogWarning("MCP server of connection {Connection} ended ({Reason}); starting it again", name,
                    details?.Exception?.GetType().Name ?? (_guard?.Reason is not null ? "cut off" : "closed"));
                _client = null;
                _tools = null;
                await dead.DisposeAsync();
            }
            if (DateTime.UtcNow - _failedAt < RestartBackoff && _failure is not null)
                throw new IOException($"The MCP server of connection '{name}' failed to start a moment ago: {_failure.Message}", _failure);
            try
            {
                var guard = new McpMessageGuard(name, maxAnswerBytes, maxNotifications, _logger);
                var client = await McpClient.CreateAsync(await TransportAsync(guard, cancellationToken), new McpClientOptions
                {
                    ClientInfo = new Implementation { Name = "portcullis-gateway", Version = "1.0.0" },
                    InitializationTimeout = Timeout,
                }, loggers, cancellationToken);
                client.RegisterNotificationHandler(NotificationMethods.ToolListChangedNotification, (_, _) =>
                {
                    _logger.LogInformation("MCP server of connection {Connection} says its tools changed", name);
                    Volatile.Write(ref _tools, null);
                    ToolsChanged?.Invoke(this);
                    return ValueTask.CompletedTask;
                });
                (_client, _guard) = (client, guard);
                _failure = null;
                return (client, guard);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                (_failedAt, _failure) = (DateTime.UtcNow, ex);
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<IClientTransport> TransportAsync(McpMessageGuard guard, CancellationToken cancellationToken)
    {
        if (McpConnection.IsStdio(settings))
        {
            // Only what a process needs to start (PATH, HOME, ...) and what the connection names: never the gateway's
            // own environment, which holds credentials of other connections.
            var environment = StdioClientTransportOptions.GetDefaultEnvironmentVariables()
                .ToDictionary(e => e.Key, e => (string?)e.Value, StringComparer.Ordinal);
            foreach (var (key, value) in settings.Env) environment[key] = await secrets.ResolveAsync(value, cancellationToken);
            // Started by the gateway rather than the SDK's stdio transport, which reads a message (and each line the
            // server writes to stderr) whole, however long: see McpMessageGuard. What a third-party server writes to
            // stderr is its own business and may hold anything (its environment, a connection string): it is dropped.
            return guard.Stdio(name, settings.Command!, settings.Args, workingDirectory, environment, loggers);
        }
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (header, value) in settings.Headers) headers[header] = await secrets.ResolveAsync(value, cancellationToken);
        return guard.Guard(new HttpClientTransport(new HttpClientTransportOptions
        {
            Name = name,
            Endpoint = new Uri(settings.Url!),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = headers,
            ConnectionTimeout = Timeout,
        }, new HttpClient(new McpResponseLimit(maxAnswerBytes) { InnerHandler = new SocketsHttpHandler() }), loggers, ownsHttpClient: true));
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is { } client) await client.DisposeAsync();
    }
}
