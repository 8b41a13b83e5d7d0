using System.Collections.Concurrent;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Secrets;

namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>The upstream MCP servers of the connections of kind <c>mcp</c>, one client each, started on first use.</summary>
public sealed class McpUpstreams(PortcullisConfig config, SecretResolver secrets, IConfiguration configuration, ILoggerFactory loggers)
    : IAsyncDisposable
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
            Path.GetDirectoryName(Path.GetFullPath(configuration["Portcullis:ConfigPath"] ?? "portcullis.yaml")));
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
    string? workingDirectory = null) : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>After a failed start, how long calls fail at once instead of starting the server again.</summary>
    private static readonly TimeSpan RestartBackoff = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ILogger _logger = loggers.CreateLogger<McpUpstream>();
    private McpClient? _client;
    private IReadOnlyList<Tool>? _tools;
    private DateTime _failedAt = DateTime.MinValue;
    private Exception? _failure;

    public string Name => name;

    /// <summary>How long one call (or listing) may take before it is abandoned.</summary>
    public TimeSpan Timeout { get; } =
        settings.Timeout is { } text && DurationText.TryParse(text, out var configured) ? configured : DefaultTimeout;

    /// <summary>Raised when the upstream says its tools changed (notifications/tools/list_changed).</summary>
    public event Action<McpUpstream>? ToolsChanged;

    /// <summary>The upstream's tools as it offers them now.</summary>
    public async Task<IReadOnlyList<Tool>> ToolsAsync(CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        try
        {
            var client = await ClientAsync(deadline.Token);
            if (Volatile.Read(ref _tools) is { } tools) return tools;
            var listed = await client.ListToolsAsync(cancellationToken: deadline.Token);
            tools = [.. listed.Select(t => t.ProtocolTool)];
            Volatile.Write(ref _tools, tools);
            return tools;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The MCP server of connection '{name}' did not list its tools within {Timeout.TotalSeconds:0.#}s.");
        }
    }

    /// <summary>Calls <paramref name="tool"/>; a <see cref="TimeoutException"/> when it takes longer than <see cref="Timeout"/>.</summary>
    public async Task<CallToolResult> CallAsync(string tool, IReadOnlyDictionary<string, object?> arguments, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        try
        {
            var client = await ClientAsync(deadline.Token);
            return await client.CallToolAsync(tool, arguments, cancellationToken: deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"The MCP server of connection '{name}' did not answer within {Timeout.TotalSeconds:0.#}s.");
        }
    }

    private CancellationTokenSource Deadline(CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(Timeout);
        return deadline;
    }

    private async Task<McpClient> ClientAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _client) is { Completion.IsCompleted: false } running) return running;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_client is { Completion.IsCompleted: false } current) return current;
            if (_client is { } dead)
            {
                var details = await dead.Completion;
                _logger.LogWarning("MCP server of connection {Connection} ended ({Reason}); starting it again", name,
                    details.Exception?.GetType().Name ?? "closed");
                _client = null;
                _tools = null;
                await dead.DisposeAsync();
            }
            if (DateTime.UtcNow - _failedAt < RestartBackoff && _failure is not null)
                throw new IOException($"The MCP server of connection '{name}' failed to start a moment ago: {_failure.Message}", _failure);
            try
            {
                var client = await McpClient.CreateAsync(await TransportAsync(cancellationToken), new McpClientOptions
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
                _client = client;
                _failure = null;
                return client;
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

    private async Task<IClientTransport> TransportAsync(CancellationToken cancellationToken)
    {
        if (McpConnection.IsStdio(settings))
        {
            // Only what a process needs to start (PATH, HOME, ...) and what the connection names: never the gateway's
            // own environment, which holds credentials of other connections.
            var environment = StdioClientTransportOptions.GetDefaultEnvironmentVariables()
                .ToDictionary(e => e.Key, e => (string?)e.Value, StringComparer.Ordinal);
            foreach (var (key, value) in settings.Env) environment[key] = await secrets.ResolveAsync(value, cancellationToken);
            return new StdioClientTransport(new StdioClientTransportOptions
            {
                Name = name,
                Command = settings.Command!,
                Arguments = settings.Args,
                WorkingDirectory = workingDirectory,
                InheritEnvironmentVariables = false,
                EnvironmentVariables = environment,
                ShutdownTimeout = TimeSpan.FromSeconds(2),
                // What a third-party server writes to stderr is its own business and may hold anything (its environment,
                // a connection string): it never reaches the gateway's logs (the transport would log each line).
                StandardErrorLines = _ => { },
            }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        }
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (header, value) in settings.Headers) headers[header] = await secrets.ResolveAsync(value, cancellationToken);
        return new HttpClientTransport(new HttpClientTransportOptions
        {
            Name = name,
            Endpoint = new Uri(settings.Url!),
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = headers,
            ConnectionTimeout = Timeout,
        }, loggers);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is { } client) await client.DisposeAsync();
    }
}
