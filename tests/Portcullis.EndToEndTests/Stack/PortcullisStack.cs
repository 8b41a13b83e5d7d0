using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using MassTransit;
using Portcullis.Defaults.Bus;
using Portcullis.EndToEndTests.Infrastructure;

namespace Portcullis.EndToEndTests.Stack;

/// <summary>
/// The whole Portcullis stack for end-to-end tests: a real RabbitMQ and PostgreSQL, the development
/// OpenID provider with a signing key the tests hold, the five services and the demo upstream, each its
/// own process built from this repository.
/// </summary>
public sealed class PortcullisStack : IAsyncLifetime
{
    public const string AgentClient = "e2e-agent";
    /// <summary>A second agent identity, in the agents group only.</summary>
    public const string SecondAgentClient = "e2e-agent-2";
    public const string AuditorClient = "e2e-auditor";
    public const string AdminClient = "e2e-admin";
    /// <summary>An admin who may also read the record: what simulating a policy over recorded actions takes.</summary>
    public const string AdminAuditorClient = "e2e-admin-auditor";
    public const string ApproverClient = "e2e-approver";
    public const string SecondApproverClient = "e2e-approver-2";
    /// <summary>An agent that is also in the approvers group: it may approve others' actions, never its own.</summary>
    public const string AgentApproverClient = "e2e-agent-approver";
    public const string ConsoleClient = "portcullis-console";
    /// <summary>An agent that also sees the proxied MCP servers (group mcp-users).</summary>
    public const string McpAgentClient = "e2e-mcp-agent";
    /// <summary>A person who signs in to the approver console.</summary>
    public const string ConsoleUser = "ada";
    public static readonly TimeSpan ApprovalExpiry = TimeSpan.FromSeconds(30);
    /// <summary>
    /// The gateway's default (5 s): tests restart services, and a restarted service's first answers, cold, can take
    /// seconds on a busy machine; a shorter timeout here made those tests fail closed where users would not.
    /// </summary>
    public static readonly TimeSpan DecisionTimeout = TimeSpan.FromSeconds(5);
    /// <summary>Outputs above this go to masking in chunks (small here, so tests cross many chunk boundaries).</summary>
    public const int MaskingChunkBytes = 64 * 1024;

    private readonly Dictionary<string, ServiceProcess> _services = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _secrets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private TestServers? _servers;
    private SshTarget? _ssh;
    private NodeMcpHttpServer? _everything;
    private NodeMcpHttpServer? _hostile;

    /// <summary>Where every service of the stack exports its traces (OTLP over HTTP).</summary>
    public OtlpReceiver Telemetry { get; private set; } = null!;

    /// <summary>The base address of one of the stack's services.</summary>
    public Uri AddressOf(string service) => _services[service].BaseAddress;

    /// <summary>
    /// Where a service's /metrics answers. The gateway's is its own local port (Metrics:Port), as `make up` runs it: its
    /// agent-facing port answers 404 there (rule and connection names are the policy's shape, not for agents).
    /// </summary>
    public Uri MetricsAddressOf(string service) => _services[service].MetricsAddress;

    /// <summary>The log file of one of the stack's processes.</summary>
    public string LogOf(string service) => _services[service].LogPath;

    /// <summary>Where the approval service sends notifications (a Slack-compatible webhook).</summary>
    public WebhookListener Webhook { get; private set; } = null!;
    public string ConsoleUserPassword { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));

    /// <summary>The upstream credentials of this run: none may ever appear in a response, a log or an audit event.</summary>
    public Dictionary<string, string> UpstreamSecrets { get; } = new(StringComparer.Ordinal);
    public string AdminConnectionString => _servers!.Postgres;
    public string RabbitMq => _servers!.RabbitMq;

    /// <summary>The built assembly of a service, for running its command-line forms.</summary>
    public string AssemblyOf(string service) => _services[service].AssemblyPath;

    public string RunDirectory { get; } = Path.Combine(RepositoryRoot, ".local", "test-runs", DateTime.UtcNow.ToString("yyyyMMdd-HHmmss") + "-" + Guid.NewGuid().ToString("N")[..6]);
    public RSA SigningKey { get; } = RSA.Create(2048);
    /// <summary>The <c>kid</c> the provider publishes for <see cref="SigningKey"/> (derived from the public key, as it derives it).</summary>
    public string SigningKeyId => Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode(SHA256.HashData(SigningKey.ExportRSAPublicKey()))[..16];
    public Uri Issuer => _services["identity"].BaseAddress;
    public HttpClient Gateway { get; private set; } = null!;
    public HttpClient Audit { get; private set; } = null!;
    public HttpClient Upstream { get; private set; } = null!;
    public HttpClient Policy { get; private set; } = null!;
    public HttpClient Approval { get; private set; } = null!;
    public Uri ApprovalAddress => _services["approval"].BaseAddress;
    /// <summary>The gateway's PostgreSQL port (TLS with a self-signed certificate made for this run).</summary>
    public int WirePort { get; private set; }

    /// <summary>How long the wire listener lets a transaction sit idle before it rolls it back and closes the connection.</summary>
    public static readonly TimeSpan WireIdleInTransactionTimeout = TimeSpan.FromSeconds(8);

    /// <summary>How long a wire transaction may stay open in all, kept busy or not.</summary>
    public static readonly TimeSpan WireMaxTransactionDuration = TimeSpan.FromSeconds(20);

    /// <summary>Transactions open at once per connection on the wire; low enough to reach in a test.</summary>
    public const int WireMaxOpenTransactions = 8;

    public static string RepositoryRoot => Metadata("RepositoryRoot");

    /// <summary>The gateway's configured public URL (Gateway:PublicUrl), the base of the links it gives out.</summary>
    public string GatewayPublicUrl { get; private set; } = null!;

    /// <summary>Gateway settings over the tests' own (set before <see cref="InitializeAsync"/>; the fault suite's deadlines).</summary>
    public Dictionary<string, string> GatewaySettings { get; } = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(RunDirectory);
        _servers = await TestServers.StartAsync();

        var ports = new[] { "identity", "demo", "policy", "masking", "approval", "audit", "gateway" }
            .ToDictionary(name => name, _ => ServiceProcess.FreePort());
        var gatewayMetricsPort = ServiceProcess.FreePort();
        var issuer = $"http://127.0.0.1:{ports["identity"]}/";
        var approvalUrl = $"http://127.0.0.1:{ports["approval"]}";
        WriteIdentityConfig(issuer, approvalUrl);
        Webhook = await WebhookListener.StartAsync(ServiceProcess.FreePort());

        UpstreamSecrets["DEMO_DB_PASSWORD"] = Convert.ToHexString(RandomNumberGenerator.GetBytes(18));
        UpstreamSecrets["DEMO_API_KEY"] = "demo-key-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        var warehouse = await DemoDatabase.SeedAsync(_servers.Postgres, RepositoryRoot, UpstreamSecrets["DEMO_DB_PASSWORD"]);
        await ForgetSessionOwnersAsync(_servers.Postgres);
        _ssh = await SshTarget.StartAsync(RunDirectory, ServiceProcess.FreePort());
        UpstreamSecrets["DEMO_SSH_KEY"] = _ssh.ClientPrivateKey;
        var secretsFile = Path.Combine(RunDirectory, "gateway-secrets.json");
        File.WriteAllText(secretsFile, JsonSerializer.Serialize(UpstreamSecrets));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(secretsFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await McpServers.InstallAsync(RepositoryRoot);
        _everything = await NodeMcpHttpServer.EverythingAsync(RepositoryRoot, ServiceProcess.FreePort());
        _hostile = await NodeMcpHttpServer.HostileAsync(RepositoryRoot, ServiceProcess.FreePort());
        var configPath = WritePortcullisYaml(ports["demo"], warehouse, _ssh);
        WirePort = ServiceProcess.FreePort();
        var (certificatePath, keyPath) = WriteWireCertificate();

        Telemetry = await OtlpReceiver.StartAsync(ServiceProcess.FreePort());
        var common = new Dictionary<string, string>
        {
            // Traces on, to the tests' own receiver, exported in small batches so a test finds them soon.
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = Telemetry.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000", // metrics over OTLP every second (the default is a minute)
            ["DOTNET_ENVIRONMENT"] = "Development",
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["ConnectionStrings__RabbitMq"] = _servers.RabbitMq,
            ["Portcullis__ConfigPath"] = configPath,
            ["Auth__Authority"] = issuer,
            ["Auth__RequireHttpsMetadata"] = "false",
            ["Auth__ClockSkewSeconds"] = "5",
        };
        Add("identity", "services/identity", "Portcullis.Identity", ports, common, new()
        {
            ["Identity__ConfigFile"] = Path.Combine(RunDirectory, "identity.json"),
        });
        Add("demo", "services/demo", "Portcullis.Demo", ports, common, new()
        {
            ["DEMO_API_KEY"] = UpstreamSecrets["DEMO_API_KEY"],
        }, "/health/live");
        Add("policy", "services/policy", "Portcullis.Policy", ports, common, new()
        {
            ["ConnectionStrings__Postgres"] = _servers.Postgres,
            ["Policy__AuditServiceUrl"] = $"http://127.0.0.1:{ports["audit"]}",
            ["Budgets__PruneEvery"] = "00:00:02", // so a test sees old charges go without waiting the hour
        });
        Add("masking", "services/masking", "Portcullis.Masking", ports, common, []);
        Add("approval", "services/approval", "Portcullis.Approval", ports, common, new()
        {
            ["ConnectionStrings__Postgres"] = _servers.Postgres,
            ["Approval__PublicUrl"] = approvalUrl,
            ["Approval__Expiry"] = ApprovalExpiry.ToString(),
            ["Approval__ExpirySweepInterval"] = "00:00:01",
            ["Console__ClientId"] = ConsoleClient,
            ["Console__ClientSecret"] = _secrets[ConsoleClient],
            ["Notifications__WebhookUrl"] = Webhook.Url,
        });
        Add("audit", "services/audit", "Portcullis.Audit", ports, common, new()
        {
            ["ConnectionStrings__Postgres"] = _servers.Postgres,
        });
        Add("gateway", "services/gateway", "Portcullis.Gateway", ports, common, new()
        {
            ["ConnectionStrings__Postgres"] = _servers.Postgres,
            ["Gateway__DecisionTimeout"] = DecisionTimeout.ToString(),
            ["Gateway__MaskingTimeout"] = "00:00:05",
            ["Gateway__MaskingChunkBytes"] = MaskingChunkBytes.ToString(),
            ["Secrets__File"] = secretsFile,
            ["Gateway__ApprovalWait"] = "00:00:20",
            ["Gateway__ApprovalServiceUrl"] = approvalUrl,
            ["Gateway__PublicUrl"] = GatewayPublicUrl = $"http://127.0.0.1:{ports["gateway"]}",
            ["Metrics__Port"] = gatewayMetricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PostgresWire__Port"] = WirePort.ToString(),
            ["PostgresWire__ListenAddress"] = "127.0.0.1",
            ["PostgresWire__CertificatePath"] = certificatePath,
            ["PostgresWire__CertificateKeyPath"] = keyPath,
            // Long enough for any client's pauses within a transaction, short enough for the test that waits it out.
            ["PostgresWire__IdleInTransactionTimeout"] = WireIdleInTransactionTimeout.ToString(),
            ["PostgresWire__MaxTransactionDuration"] = WireMaxTransactionDuration.ToString(),
            ["PostgresWire__MaxOpenTransactions"] = WireMaxOpenTransactions.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        foreach (var service in _services.Values) service.Start();
        await Task.WhenAll(_services.Values.Select(s => s.WaitUntilReadyAsync(TimeSpan.FromSeconds(90))));

        Gateway = new HttpClient { BaseAddress = _services["gateway"].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Audit = new HttpClient { BaseAddress = _services["audit"].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Upstream = new HttpClient { BaseAddress = _services["demo"].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Policy = new HttpClient { BaseAddress = _services["policy"].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Approval = new HttpClient { BaseAddress = _services["approval"].BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        await WarmUpAsync(Gateway, TimeSpan.FromSeconds(90));
    }

    /// <summary>
    /// The first decisions of a freshly started stack are cold (JIT compilation, first connections and queues in every
    /// service): on a busy machine they can miss the gateway's decision timeout and be refused (503, failing closed),
    /// which is not what any test is about. One request per path first, sent again until it is answered otherwise.
    /// The same holds for each extra gateway a test starts (<see cref="StartExtraAsync"/>): its first answer is as cold.
    /// </summary>
    private async Task WarmUpAsync(HttpClient gateway, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
                 { (HttpMethod.Get, "http/demo/customers/1", null), (HttpMethod.Post, "sql/warehouse", new { sql = "SELECT 1" }) })
        {
            while (true)
            {
                using var request = await AgentRequest(method, path, "e2e-warm-up");
                if (body is not null) request.Content = JsonContent.Create(body);
                using var response = await gateway.SendAsync(request);
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > deadline) break;
                await Task.Delay(500);
            }
        }
    }

    public async Task DisposeAsync()
    {
        Gateway?.Dispose();
        Audit?.Dispose();
        Upstream?.Dispose();
        Policy?.Dispose();
        Approval?.Dispose();
        await Task.WhenAll(_services.Values.Select(s => s.StopAsync()));
        if (Webhook is not null) await Webhook.DisposeAsync();
        if (_ssh is not null) await _ssh.DisposeAsync();
        if (_everything is not null) await _everything.DisposeAsync();
        if (_hostile is not null) await _hostile.DisposeAsync();
        if (_servers is not null) await _servers.DisposeAsync();
        if (Telemetry is not null) await Telemetry.DisposeAsync();
    }

    public Task StopAsync(string service) => _services[service].StopAsync();

    /// <summary>
    /// Sessions belong to the issuer and subject that opened them, and each stack's issuer is its own (its port): the
    /// owners a database kept from an earlier run holds would refuse this run's fixed session ids. The gateway
    /// creates the table again at start.
    /// </summary>
    private static async Task ForgetSessionOwnersAsync(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("DROP SCHEMA IF EXISTS gateway CASCADE", connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// One more gateway process beside the stack's, with the same configuration but <paramref name="environment"/>
    /// changed (a key set to "" is removed); the caller disposes it.
    /// </summary>
    public Task<(ServiceProcess Process, HttpClient Client)> StartExtraGatewayAsync(string name, Dictionary<string, string> environment) =>
        StartExtraAsync("gateway", name, environment);

    /// <summary>One more process of <paramref name="service"/> with its environment changed, on a port of its own.</summary>
    public async Task<(ServiceProcess Process, HttpClient Client)> StartExtraAsync(string service, string name,
        Dictionary<string, string> environment, int? port = null)
    {
        var original = _services[service];
        var settings = new Dictionary<string, string>(original.Environment);
        foreach (var (key, value) in environment)
            if (value.Length == 0) settings.Remove(key); else settings[key] = value;
        // The stack's gateway holds its PostgreSQL port; another gateway listens on one only when told which.
        if (!environment.ContainsKey("PostgresWire__Port")) settings.Remove("PostgresWire__Port");
        var extra = new ServiceProcess(name, original.AssemblyPath, port ?? ServiceProcess.FreePort(), settings, RunDirectory);
        extra.Start();
        await extra.WaitUntilReadyAsync(TimeSpan.FromSeconds(90));
        var client = new HttpClient { BaseAddress = extra.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        // A test's first request through a gateway just started would otherwise be the cold one (503 on a busy machine).
        if (service == "gateway") await WarmUpAsync(client, TimeSpan.FromSeconds(30));
        return (extra, client);
    }

    public async Task StartAsync(string service, TimeSpan? readyWithin = null)
    {
        _services[service].Start();
        await _services[service].WaitUntilReadyAsync(readyWithin ?? TimeSpan.FromSeconds(90));
        // The gateway refuses agent actions until the audit reports keeping up again (strict recording).
        if (service != "gateway" && _services["gateway"].IsRunning)
            await _services["gateway"].WaitUntilReadyAsync(readyWithin ?? TimeSpan.FromSeconds(90));
    }

    /// <summary>SIGSTOP / SIGCONT a service: paused, it keeps its connections open but does nothing.</summary>
    public Task PauseAsync(string service) => _services[service].PauseAsync();
    public Task ResumeAsync(string service) => _services[service].ResumeAsync();

    /// <summary>A token from the OpenID provider through the client credentials grant, as an agent gets one.</summary>
    public async Task<string> TokenFor(string client)
    {
        if (_tokens.TryGetValue(client, out var cached)) return cached;
        using var http = new HttpClient { BaseAddress = Issuer };
        using var response = await http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = client,
            ["client_secret"] = _secrets[client],
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"token request for {client} failed: {body}");
        return _tokens[client] = JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
    }

    /// <summary>A request to one of the services with a token of <paramref name="client"/>.</summary>
    public async Task<HttpRequestMessage> Authorized(string client, HttpMethod method, string path, object? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenFor(client));
        if (json is not null) request.Content = JsonContent.Create(json);
        return request;
    }

    public async Task<HttpRequestMessage> AgentRequest(HttpMethod method, string path, string sessionId, string client = AgentClient)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenFor(client));
        request.Headers.Add("X-Session-Id", sessionId);
        return request;
    }

    /// <summary>What reached the demo upstream.</summary>
    public async Task<IReadOnlyList<SeenRequest>> UpstreamRequests() =>
        await Upstream.GetFromJsonAsync<List<SeenRequest>>("__requests") ?? [];

    /// <summary>A MassTransit bus on the stack's broker, started, to publish events as the services would.</summary>
    public async Task<IBusControl> StartBusAsync()
    {
        var broker = BrokerAddress.Parse(RabbitMq);
        var bus = Bus.Factory.CreateUsingRabbitMq(rabbit => rabbit.Host(broker.Host, broker.Port, broker.VirtualHost, host =>
        {
            host.Username(broker.Username);
            host.Password(broker.Password);
        }));
        await bus.StartAsync();
        return bus;
    }

    /// <summary>The types of a session timeline's events, in their order.</summary>
    public static string[] EventTypes(JsonElement timeline) =>
        [.. timeline.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()!)];

    /// <summary>The policy in force, as an admin reads it: its version and YAML.</summary>
    public async Task<(int Version, string Yaml)> CurrentPolicyAsync()
    {
        using var request = await Authorized(AdminClient, HttpMethod.Get, "policy");
        using var response = await Policy.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return (body.GetProperty("version").GetInt32(), body.GetProperty("yaml").GetString()!);
    }

    /// <summary>Publishes a policy version as an admin (PUT /policy): the answer's status and body.</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> PublishPolicyAsync(string yaml, int expectedVersion, string comment)
    {
        using var request = await Authorized(AdminClient, HttpMethod.Put, "policy", new { yaml, expectedVersion, comment });
        using var response = await Policy.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>
    /// Waits until the policy service decides with <paramref name="version"/>. A published version is stored at once but
    /// takes force when the service hears its own PolicyPublished on the bus: until then GET /policy already names it
    /// while decisions are still made by the version before (what a dry run of /policy/evaluate reports).
    /// </summary>
    public Task UntilPolicyInForceAsync(int version) => UntilAsync(async () =>
    {
        using var request = await Authorized(AdminClient, HttpMethod.Post, "policy/evaluate", new
        {
            principal = new { subject = AgentClient, groups = new[] { "agents" } },
            action = new { protocol = "http", connection = "demo", method = "GET", path = "/customers/1" },
        });
        using var response = await Policy.SendAsync(request);
        if (!response.IsSuccessStatusCode) return false;
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return body.GetProperty("policyVersion").GetString() == $"v{version}";
    }, $"policy v{version} in force");

    /// <summary>
    /// Publishes <paramref name="yaml"/> again over a test's own version (<paramref name="expectedVersion"/>) and waits until
    /// it decides, so the next test of the collection is not decided by the test's rules in the moment before the reload.
    /// </summary>
    public async Task RestorePolicyAsync(string yaml, int expectedVersion)
    {
        var (status, body) = await PublishPolicyAsync(yaml, expectedVersion, "restore");
        Assert.True(status == HttpStatusCode.OK, $"restoring the policy: {(int)status} {body}");
        await UntilPolicyInForceAsync(body.GetProperty("version").GetInt32());
    }

    /// <summary>
    /// The audit timeline of a session, once it holds <paramref name="until"/> for the request: the audit
    /// service consumes from the bus, so its record follows the agent's answer by a moment.
    /// </summary>
    public async Task<JsonElement> TimelineAsync(string sessionId, Func<JsonElement, bool> until)
    {
        var auditor = await TokenFor(AuditorClient);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement last = default;
        while (DateTime.UtcNow < deadline)
        {
            using var attempt = new HttpRequestMessage(HttpMethod.Get, $"sessions/{sessionId}");
            attempt.Headers.Authorization = new AuthenticationHeaderValue("Bearer", auditor);
            using var response = await Audit.SendAsync(attempt);
            if (response.IsSuccessStatusCode)
            {
                last = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                if (until(last)) return last;
            }
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"The audit timeline of session {sessionId} did not reach the expected state; last: {last}");
    }

    /// <summary>
    /// The audit record of a stream the services write themselves (read by an admin), once it holds <paramref name="until"/>;
    /// <paramref name="nudge"/> runs before each look (what makes the record happen, when that is a read).
    /// </summary>
    public async Task<JsonElement> AuditTimelineAsync(string stream, Func<JsonElement, bool> until, Func<Task> nudge)
    {
        var auditor = await TokenFor(AuditorClient);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        JsonElement last = default;
        while (DateTime.UtcNow < deadline)
        {
            await nudge();
            using var attempt = new HttpRequestMessage(HttpMethod.Get, $"sessions/{Uri.EscapeDataString(stream)}");
            attempt.Headers.Authorization = new AuthenticationHeaderValue("Bearer", auditor);
            using var response = await Audit.SendAsync(attempt);
            if (response.IsSuccessStatusCode)
            {
                last = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
                if (until(last)) return last;
            }
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"The audit record of {stream} did not reach the expected state; last: {last}");
    }

    /// <summary>Waits until <paramref name="condition"/> holds (something another service does on hearing an event), failing after 20 seconds.</summary>
    public async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"Not reached within 20 seconds: {what}.");
    }

    private void Add(string name, string folder, string assembly, Dictionary<string, int> ports,
        Dictionary<string, string> common, Dictionary<string, string> own, string readiness = "/health/ready")
    {
        var path = Path.Combine(RepositoryRoot, folder, "bin", Metadata("Configuration"), "net10.0", assembly + ".dll");
        var environment = new Dictionary<string, string>(common);
        foreach (var (key, value) in own) environment[key] = value;
        if (name == "gateway") foreach (var (key, value) in GatewaySettings) environment[key] = value;
        var metricsPort = environment.TryGetValue("Metrics__Port", out var metrics) ? int.Parse(metrics, System.Globalization.CultureInfo.InvariantCulture) : (int?)null;
        _services[name] = new ServiceProcess(name, path, ports[name], environment, RunDirectory, readiness, metricsPort);
    }

    /// <summary>A self-signed certificate for the gateway's PostgreSQL port, as PEM files (clients use sslmode=require).</summary>
    private (string Certificate, string Key) WriteWireCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", key,
            HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var certificatePath = Path.Combine(RunDirectory, "wire-cert.pem");
        var keyPath = Path.Combine(RunDirectory, "wire-key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    private void WriteIdentityConfig(string issuer, string approvalUrl)
    {
        var keyPath = Path.Combine(RunDirectory, "signing-key.pem");
        File.WriteAllText(keyPath, SigningKey.ExportPkcs8PrivateKeyPem());
        _secrets[AgentClient] = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        _secrets[AuditorClient] = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        _secrets[AdminClient] = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        foreach (var client in new[] { ApproverClient, SecondApproverClient, AgentApproverClient, ConsoleClient, SecondAgentClient, McpAgentClient, AdminAuditorClient })
            _secrets[client] = Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        var config = new
        {
            Identity = new
            {
                Issuer = issuer,
                SigningKeyPath = keyPath,
                Clients = new Dictionary<string, object>
                {
                    [AgentClient] = new { Secret = _secrets[AgentClient], Groups = "agents" },
                    [AuditorClient] = new { Secret = _secrets[AuditorClient], Groups = "auditors" },
                    [AdminClient] = new { Secret = _secrets[AdminClient], Groups = "admins" },
                    [AdminAuditorClient] = new { Secret = _secrets[AdminAuditorClient], Groups = "admins,auditors" },
                    [ApproverClient] = new { Secret = _secrets[ApproverClient], Groups = "approvers" },
                    [SecondApproverClient] = new { Secret = _secrets[SecondApproverClient], Groups = "approvers" },
                    [AgentApproverClient] = new { Secret = _secrets[AgentApproverClient], Groups = "agents,approvers" },
                    [SecondAgentClient] = new { Secret = _secrets[SecondAgentClient], Groups = "agents" },
                    [McpAgentClient] = new { Secret = _secrets[McpAgentClient], Groups = "agents,mcp-users" },
                    [ConsoleClient] = new { Secret = _secrets[ConsoleClient], RedirectUris = $"{approvalUrl}/signin-oidc" },
                },
                Users = new Dictionary<string, object>
                {
                    [ConsoleUser] = new { Password = ConsoleUserPassword, Groups = "approvers" },
                },
            },
        };
        File.WriteAllText(Path.Combine(RunDirectory, "identity.json"), JsonSerializer.Serialize(config));
    }

    /// <summary>
    /// Stops server-everything and starts it again on the same port: the gateway's HTTP session with it is gone, as
    /// after an upstream restart.
    /// </summary>
    public async Task RestartEverythingAsync()
    {
        var port = _everything!.Port;
        await _everything.DisposeAsync();
        _everything = await NodeMcpHttpServer.EverythingAsync(RepositoryRoot, port);
    }

    /// <summary>The folder the proxied filesystem MCP server may read (a file with emails in it), and one beside it it may not.</summary>
    public string McpFilesFolder => Path.Combine(RunDirectory, "mcp-files");
    public string McpOutsideFile => Path.Combine(RunDirectory, "outside.txt");
    /// <summary>Folders beside the shared one whose names begin with its name: outside it all the same.</summary>
    public string[] McpLookalikeFiles =>
        [Path.Combine(RunDirectory, "mcp-files.evil", "secret.txt"), Path.Combine(RunDirectory, "mcp-files2", "secret.txt")];

    /// <summary>The file whose text is the description of the changing-tool server's one tool.</summary>
    public string ChangingToolDescriptionFile => Path.Combine(RunDirectory, "changing-tool.txt");

    private string WritePortcullisYaml(int demoPort, string warehouse, SshTarget ssh)
    {
        var path = Path.Combine(RunDirectory, "portcullis.yaml");
        Directory.CreateDirectory(McpFilesFolder);
        File.WriteAllText(Path.Combine(McpFilesFolder, "customers.txt"), "Ada Lovelace <ada.lovelace@example.com>\nAlan Turing <alan.turing@example.com>\n");
        File.WriteAllText(McpOutsideFile, "not for agents\n");
        foreach (var lookalike in McpLookalikeFiles)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(lookalike)!);
            File.WriteAllText(lookalike, "not for agents\n");
        }
        // Unique to the run: the connection's audit stream outlives the stack (its pins do not).
        File.WriteAllText(ChangingToolDescriptionFile, $"Tells the weather of a city ({Path.GetFileName(RunDirectory)}).");
        var servers = Path.Combine(RepositoryRoot, "tests", "mcp-servers");
        var filesystem = Path.Combine(servers, "node_modules", "@modelcontextprotocol", "server-filesystem", "dist", "index.js");
        var postgresServer = Path.Combine(servers, "node_modules", "@modelcontextprotocol", "server-postgres", "dist", "index.js");
        // The password is not in the URL: the server's driver reads PGPASSWORD, which the gateway sets from the secret.
        var database = new Npgsql.NpgsqlConnectionStringBuilder(warehouse);
        var databaseUrl = $"postgresql://{Uri.EscapeDataString(database.Username!)}@{database.Host}:{database.Port}/{Uri.EscapeDataString(database.Database!)}";
        File.WriteAllText(path, $$"""
            connections:
              demo:
                kind: http
                upstream: http://127.0.0.1:{{demoPort}}/
                default_effect: allow
                headers: { X-Api-Key: "secret:DEMO_API_KEY" }
              warehouse:
                kind: postgres
                description: The sales warehouse (customers, payments).
                connection_string: "{{warehouse}}"
                password: secret:DEMO_DB_PASSWORD
                default_effect: allow
                obligations: { max_rows: 20 }
              vault:
                kind: http
                upstream: http://127.0.0.1:{{demoPort}}/
                description: Only admins see this one.
                visible_to: [admins]
                default_effect: allow
              warehouse-tx:
                kind: postgres
                description: The warehouse for the wire transaction tests, without the settings rules (the database itself must hold).
                connection_string: "{{warehouse}}"
                password: secret:DEMO_DB_PASSWORD
                visible_to: [wire-tx-tests] # not listed to MCP clients (a listing of what agents see); the wire takes it by name
                default_effect: allow
              warehouse-wide:
                kind: postgres
                description: The warehouse with warehouse's rules and masking but without its 20-row cap, for clients that list the catalogue (LangChain's table listing reads one row per column of the schema, which objects other tests create would push past the cap).
                connection_string: "{{warehouse}}"
                password: secret:DEMO_DB_PASSWORD
                visible_to: [wire-listing-tests] # not listed to MCP clients (a listing of what agents see); the wire takes it by name
                default_effect: allow
                obligations: { max_rows: 5000 }
              warehouse-ro:
                kind: postgres
                connection_string: "{{warehouse}}"
                password: secret:DEMO_DB_PASSWORD
                default_effect: allow
                obligations: { read_only: true, statement_timeout: 1s, max_rows: 50000 }
              ops:
                kind: ssh
                host: 127.0.0.1
                port: {{ssh.Port}}
                username: {{ssh.User}}
                private_key: secret:DEMO_SSH_KEY
                host_key_sha256: "{{ssh.HostKeyFingerprint}}"
                timeout: 2s
                default_effect: deny
              files:
                kind: mcp
                description: Shared project files, read through the filesystem MCP server.
                command: node
                args: ["{{filesystem}}", "{{McpFilesFolder}}"]
                visible_to: [mcp-users]
                default_effect: allow
              weather:
                kind: mcp
                command: node
                args: ["{{Path.Combine(servers, "changing-tool.mjs")}}", "{{ChangingToolDescriptionFile}}"]
                visible_to: [mcp-users]
                default_effect: allow
              pgdemo:
                kind: mcp
                description: The demo database through the PostgreSQL MCP server.
                command: node
                args: ["{{postgresServer}}", "{{databaseUrl}}"]
                catalogue: warehouse-ro
                env: { PGPASSWORD: "secret:DEMO_DB_PASSWORD" }
                visible_to: [mcp-users]
                default_effect: allow
              everything:
                kind: mcp
                description: The MCP reference server, over Streamable HTTP.
                url: {{_everything!.Url}}
                headers: { X-Api-Key: "secret:DEMO_API_KEY" }
                visible_to: [mcp-users]
                default_effect: allow
                timeout: 3s
              everything-local:
                kind: mcp
                command: node
                args: ["{{Path.Combine(servers, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")}}", stdio]
                env: { GREETING: hello }
                visible_to: [mcp-users]
                default_effect: allow
              everything-long:
                kind: mcp
                description: The MCP reference server again, with time for its long-running operation.
                url: {{_everything!.Url}}
                visible_to: [mcp-users]
                default_effect: allow
                timeout: 60s
              misbehaving:
                kind: mcp
                command: node
                args: ["{{Path.Combine(servers, "misbehaving.mjs")}}"]
                visible_to: [mcp-users]
                default_effect: allow
                timeout: 3s
              hostile:
                kind: mcp
                command: node
                args: ["{{Path.Combine(servers, "hostile.mjs")}}"]
                catalogue: warehouse-ro # its rows tool claims the demo database's rows
                visible_to: [mcp-users]
                default_effect: deny
                timeout: 10s
              hostile-http:
                kind: mcp
                url: {{_hostile!.Url}}
                headers: { X-Api-Key: "secret:DEMO_API_KEY" }
                visible_to: [mcp-users]
                default_effect: deny
                timeout: 10s
              broken:
                kind: mcp
                command: node
                args: ["-e", "process.exit(3)"]
                visible_to: [mcp-users]
                default_effect: allow
                timeout: 5s
            policy:
              default_effect: deny
              rules:
                - id: pgdemo-no-ddl
                  effect: deny
                  reason: The database tool only reads; the schema is not for agents.
                  match: { connections: [pgdemo], mcp: { tools: [query], sql_argument: sql }, sql: { kinds: [ddl, drop, truncate] } }
                - id: approve-everything-sums
                  effect: require_approval
                  approvers: [approvers]
                  reason: Sums need a human.
                  match: { connections: [everything], mcp: { tools: [get-sum] } }
                - id: files-read-only
                  effect: deny
                  reason: The shared files are read-only for agents.
                  match: { connections: [files], mcp: { tools: [write_file, edit_file, move_file, create_directory] } }
                - id: files-stay-in-folder
                  effect: deny
                  reason: Only the shared folder may be read.
                  match: { connections: [files], mcp: { tools: ["read_*", "list_*", get_file_info, search_files, directory_tree], arguments: [{ path: "$..path", glob: "{{McpFilesFolder}}/**", not: true }] } }
                - id: everything-no-instructions
                  effect: deny
                  reason: The server's instructions document is not for agents.
                  match: { connections: [everything], mcp: { resources: ["demo://resource/static/document/instructions.md"] } }
                - id: everything-no-blob-over-9
                  effect: deny
                  reason: Blob resources above 9 are not for agents.
                  match: { connections: [everything], mcp: { resources: ["demo://resource/dynamic/blob/??*"] } }
                - id: everything-no-completable-prompt
                  effect: deny
                  reason: Not that prompt.
                  match: { connections: [everything], mcp: { prompts: [completable-prompt] } }
                - id: everything-not-atlantis
                  effect: deny
                  reason: Atlantis is not a city agents may ask about.
                  match: { connections: [everything], mcp: { prompts: [args-prompt], arguments: [{ path: "$.city", equals: Atlantis }] } }
                - id: hostile-tools
                  effect: allow
                  match: { connections: [hostile, hostile-http], mcp: { tools: [structured, ask-client, huge, header-hash, long-line, flood, "tool-*"] } }
                - id: hostile-rows
                  effect: allow
                  match: { connections: [hostile, hostile-http], mcp: { tools: [rows], sql_argument: sql }, sql: { kinds: [select] } }
                - id: hostile-shared-folder
                  effect: allow
                  match: { connections: [hostile], mcp: { resources: ["file:///srv/shared/**"] } }
                - id: agents-no-admin
                  effect: deny
                  reason: Agents may not use admin endpoints.
                  match: { connections: [demo], groups: [agents], paths: ["/admin/**"] }
                - id: approve-bulk-export
                  effect: require_approval
                  approvers: [approvers]
                  reason: Bulk export needs a human.
                  match: { connections: [demo], paths: ["/customers/export"] }
                - id: wire-tx-guarded-read-only
                  effect: allow
                  reason: The guarded table is read in read-only transactions.
                  # An allow rule vouches for every table of a statement: it also covers SELECTs without any.
                  match: { connections: [warehouse-tx], sql: { kinds: [select], tables: [demo.wire_tx_guarded] } }
                  obligations: { read_only: true }
                - id: approve-payments
                  effect: require_approval
                  approvers: [approvers]
                  reason: Payment data needs a human.
                  match: { connections: [warehouse, warehouse-wide], sql: { tables: [demo.payments] } }
                - id: sql-no-program
                  effect: deny
                  reason: COPY ... PROGRAM runs a shell command on the database server.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [copy_to_program, copy_from_program, program_execution] } }
                - id: sql-no-server-files-or-remote
                  effect: deny
                  reason: Server files, connections to other hosts and server administration are not for agents.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [file_access, remote_access, admin_function, admin, load] } }
                - id: sql-no-dynamic-sql
                  effect: deny
                  reason: Functions and statements that run SQL text are not for agents; send the query itself.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [sql_execution, dynamic_sql] } }
                - id: sql-no-large-objects
                  effect: deny
                  reason: Large objects are not for agents; read and write table rows instead.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [large_object, large_object_write] } }
                - id: sql-no-server-state
                  effect: deny
                  reason: Advisory locks, notifications and sequence changes outlive the statement.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [server_state] } }
                - id: sql-no-sensitive-catalog
                  effect: deny
                  reason: That catalog holds credentials, other sessions' statements or column statistics.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [sensitive_catalog] } }
                - id: sql-no-settings
                  effect: deny
                  reason: That setting changes how statements are checked or run.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [unsafe_setting] } }
                - id: sql-no-unvetted-functions
                  effect: deny
                  reason: Only PostgreSQL's built-in functions and operators are allowed.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [unvetted_function] } }
                - id: sql-no-ddl
                  effect: deny
                  reason: Agents do not change the schema.
                  match: { connections: [warehouse, warehouse-ro, warehouse-wide], sql: { kinds: [ddl] } }
                - id: exec-no-network
                  effect: deny
                  reason: Commands may not reach the network.
                  match: { connections: [ops], exec: { network: true } }
                - id: exec-no-env-override
                  effect: deny
                  reason: Variables that change what runs or is loaded are not for agents.
                  match: { connections: [ops], exec: { env_override: true } }
                - id: exec-no-hidden-programs
                  effect: deny
                  reason: An allowed program may not start another.
                  match: { connections: [ops], exec: { runs_program: true } }
                - id: exec-no-file-writes
                  effect: deny
                  reason: Inspection commands do not write files.
                  match: { connections: [ops], exec: { writes_files: true } }
                - id: exec-no-secret-files
                  effect: deny
                  reason: Credentials and keys on the host are never read.
                  match: { connections: [ops], exec: { paths: ["/etc/shadow", "~/.ssh/**", "/home/*/.ssh/**", "/root/.ssh/**"] } }
                - id: exec-inspection
                  effect: allow
                  match: { connections: [ops], exec: { programs: [ls, cat, grep, df, uptime, echo, printf, sleep, yes, head, sort, tail, wc, ps] } }
            masking:
              detectors: [all]
              rules:
                - id: billing-address
                  json_paths: ["$.billing.address"]
                  entity: ADDRESS
                - id: cookies
                  headers: [Set-Cookie]
                  entity: COOKIE
                - id: customer-names
                  connections: [warehouse, warehouse-wide, pgdemo, hostile, hostile-http]
                  columns: [demo.customers.name]
                  strategy: partial
                  keep: 3
                - id: customer-emails
                  connections: [warehouse, warehouse-ro, warehouse-wide, pgdemo]
                  columns: [demo.customers.email]
                  entity: EMAIL
                - id: customer-ssns
                  connections: [warehouse, warehouse-ro, warehouse-wide, pgdemo]
                  columns: [demo.customers.ssn]
                  entity: SSN
                - id: payment-cards
                  connections: [warehouse, warehouse-ro, warehouse-wide, pgdemo]
                  columns: [demo.payments.card_number]
                  entity: CARD
                - id: api-key-secrets
                  connections: [warehouse, warehouse-ro, warehouse-wide, pgdemo]
                  columns: [demo.api_keys.secret]
                  entity: SECRET_ASSIGNMENT
            """);
        return path;
    }

    private static string Metadata(string key) =>
        typeof(PortcullisStack).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}

/// <summary>What reached the demo upstream; RawTarget is the request line's target exactly as it arrived.</summary>
public sealed record SeenRequest(string Method, string Path, string? Query, string[] Headers, string? RawTarget = null,
    string? Host = null, long? BodyLength = null);

[CollectionDefinition(Name)]
public sealed class StackCollection : ICollectionFixture<PortcullisStack>
{
    public const string Name = "Portcullis stack";
}
