using System.Diagnostics.Metrics;
using System.Reflection;
using System.Text.RegularExpressions;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Telemetry;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace Portcullis.UnitTests.Deployment;

/// <summary>
/// compose/docker-compose.yml read the way Docker Compose reads it (variables from compose/.env, YAML merge
/// keys), checked against the repository: what it builds and mounts exists, every setting a service reads is
/// set, every Dapr component a service names is there, no two services claim a host port, start-up waits on
/// health checks that exist, and every image is built with the publish command the local stack uses. There
/// is no Docker engine on our machines; this is what can be checked without one.
/// </summary>
public sealed partial class ComposeFileTests
{
    private static readonly string Root = typeof(ComposeFileTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepositoryRoot").Value!;
    private static readonly string ComposeFolder = Path.Combine(Root, "compose");
    private static readonly string ComposeText = File.ReadAllText(Path.Combine(ComposeFolder, "docker-compose.yml"));
    private static readonly Dictionary<string, string> DotEnv = ReadDotEnv(Path.Combine(ComposeFolder, ".env"));
    private static readonly Dictionary<string, Service> Services = Parse(Substitute(ComposeText));

    private sealed record Service(string Name, Dictionary<object, object> Spec)
    {
        public Dictionary<object, object>? Build => Spec.GetValueOrDefault("build") as Dictionary<object, object>;
        public string? Dockerfile => Build is null ? null : Path.GetFullPath(Path.Combine(ComposeFolder, (string)Build["context"], (string)Build["dockerfile"]));
        public Dictionary<string, string> Environment =>
            (Spec.GetValueOrDefault("environment") as Dictionary<object, object> ?? [])
            .Where(e => e.Key is string key && key != "<<")
            .ToDictionary(e => (string)e.Key, e => e.Value?.ToString() ?? "");
        public IEnumerable<string> Volumes => (Spec.GetValueOrDefault("volumes") as List<object> ?? []).Cast<string>();
        public IEnumerable<string> Ports => (Spec.GetValueOrDefault("ports") as List<object> ?? []).Cast<string>();
        public IEnumerable<string> Command => (Spec.GetValueOrDefault("command") as List<object> ?? []).Cast<string>()
            .Concat((Spec.GetValueOrDefault("entrypoint") as List<object> ?? []).Cast<string>());
        public Dictionary<object, object> DependsOn => Spec.GetValueOrDefault("depends_on") as Dictionary<object, object> ?? [];
        public string? SidecarOf => Spec.GetValueOrDefault("network_mode") is string mode && mode.StartsWith("service:") ? mode["service:".Length..] : null;
        /// <summary>The .NET service folder the image is built from (services/x), when it is one.</summary>
        public string? ServiceFolder => Dockerfile is { } file && Path.GetFileName(file) == "Dockerfile"
                                        && Path.GetDirectoryName(file) is { } folder && Path.GetDirectoryName(folder) == Path.Combine(Root, "services")
            ? folder : null;
    }

    [Fact]
    public void Every_build_context_and_dockerfile_exists()
    {
        var built = Services.Values.Where(s => s.Build is not null).ToList();
        Assert.NotEmpty(built);
        foreach (var service in built)
        {
            Assert.True(Directory.Exists(Path.Combine(ComposeFolder, (string)service.Build!["context"])), $"{service.Name}: build context missing");
            Assert.True(File.Exists(service.Dockerfile), $"{service.Name}: {service.Dockerfile} missing");
        }
    }

    [Fact]
    public void The_five_services_and_the_demo_targets_are_built_from_this_repository()
    {
        foreach (var name in new[] { "gateway", "policy", "masking", "approval", "audit", "demo" })
            Assert.Equal(Path.Combine(Root, "services", name), Services[name].ServiceFolder);
        Assert.Contains("rabbitmq", Services.Keys);
        Assert.Contains("postgres", Services.Keys);
        Assert.Contains("keycloak", Services.Keys);
        Assert.Contains("demo-ssh", Services.Keys);
        Assert.Contains("demo-agent", Services.Keys);
        Assert.Equal("gateway", Services["gateway-dapr"].SidecarOf);
        Assert.Equal("approval", Services["approval-dapr"].SidecarOf);
    }

    [Fact]
    public void Every_variable_the_compose_file_uses_is_set_in_the_env_file()
    {
        var missing = ComposeVariable().Matches(ComposeText)
            .Where(m => !m.Groups["default"].Success && !DotEnv.ContainsKey(m.Groups["name"].Value))
            .Select(m => m.Groups["name"].Value).Distinct().ToList();
        Assert.True(missing.Count == 0, $"not in compose/.env: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Every_setting_a_service_reads_is_set()
    {
        var problems = new List<string>();
        foreach (var service in Services.Values.Where(s => s.ServiceFolder is not null))
        {
            var source = string.Join("\n", Directory.EnumerateFiles(service.ServiceFolder!, "*.cs", SearchOption.AllDirectories)
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                            && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
                .Select(File.ReadAllText));
            var environment = service.Environment;
            void Require(string marker, params string[] keys)
            {
                if (!source.Contains(marker, StringComparison.Ordinal)) return;
                foreach (var key in keys)
                    if (!environment.TryGetValue(key, out var value) || value.Length == 0)
                        problems.Add($"{service.Name} calls {marker} but {key} is not set");
            }
            Require("AddPortcullisBus(", "ConnectionStrings__RabbitMq");
            Require("GetConnectionString(\"Postgres\")", "ConnectionStrings__Postgres");
            Require("AddPortcullisAuthentication(", "Auth__Authority");
            Require("AddConsoleSignIn(", "Console__ClientId", "Console__ClientSecret");
            Require("AddPortcullisConfig(", "Portcullis__ConfigPath");
            if (source.Contains("Environment.GetEnvironmentVariable(\"DEMO_API_KEY\")", StringComparison.Ordinal)
                && !environment.ContainsKey("DEMO_API_KEY") && !service.Command.Any(c => c.Contains("DEMO_API_KEY=", StringComparison.Ordinal)))
                problems.Add($"{service.Name} reads DEMO_API_KEY but nothing sets it");

            // The configuration file: mounted where Portcullis__ConfigPath says, with its variables set.
            if (environment.TryGetValue("Portcullis__ConfigPath", out var configPath) && source.Contains("AddPortcullisConfig(", StringComparison.Ordinal))
            {
                var mount = service.Volumes.Select(v => v.Split(':')).FirstOrDefault(v => v.Length >= 2 && v[1] == configPath);
                if (mount is null) { problems.Add($"{service.Name}: nothing is mounted at {configPath}"); continue; }
                var file = Path.GetFullPath(Path.Combine(ComposeFolder, mount[0]));
                foreach (var (name, _) in PortcullisConfigLoader.VariablesIn(File.ReadAllText(file)))
                    if (!environment.ContainsKey(name))
                        problems.Add($"{service.Name}: {Path.GetFileName(file)} uses {name}, which compose does not set (the local default would point nowhere)");
                // And the file loads with the compose values, each service's section into its service's model.
                var loaded = PortcullisConfigLoader.Parse(PortcullisConfigLoader.ExpandEnvironment(File.ReadAllText(file), file,
                    name => environment.GetValueOrDefault(name)), file);
                loaded.Policy.Read<Portcullis.Policy.Rules.PolicyConfig>();
                loaded.Masking.Read<Portcullis.Masking.Rules.MaskingConfig>();
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void Dapr_sidecars_have_the_components_their_services_name()
    {
        foreach (var sidecar in Services.Values.Where(s => s.SidecarOf is not null))
        {
            var app = Services[sidecar.SidecarOf!];
            Assert.Equal("http://localhost:50001", app.Environment.GetValueOrDefault("DAPR_GRPC_ENDPOINT"));
            var folder = sidecar.Volumes.Select(v => v.Split(':')).Single(v => v[1] == "/components")[0];
            var components = Directory.EnumerateFiles(Path.Combine(ComposeFolder, folder), "*.yaml")
                .Select(f => new DeserializerBuilder().Build().Deserialize<Dictionary<string, object>>(File.ReadAllText(f)))
                .Select(c => (string)((Dictionary<object, object>)c["metadata"])["name"])
                .ToList();
            foreach (var key in new[] { "Secrets__DaprStore", "Notifications__DaprBinding" })
                if (app.Environment.TryGetValue(key, out var component))
                    Assert.True(components.Contains(component), $"{app.Name}: {key}={component} but the sidecar has {string.Join(", ", components)}");
        }
        Assert.Equal("portcullis-secrets", Services["gateway"].Environment["Secrets__DaprStore"]);
        Assert.Equal("approver-alerts", Services["approval"].Environment["Notifications__DaprBinding"]);
    }

    [Fact]
    public void Every_file_a_service_mounts_or_runs_is_in_the_repository()
    {
        var problems = new List<string>();
        foreach (var service in Services.Values)
        {
            var mounts = service.Volumes.Select(v => v.Split(':')).Where(v => v[0].StartsWith('.')).ToList();
            foreach (var mount in mounts)
                if (!File.Exists(Path.Combine(ComposeFolder, mount[0])) && !Directory.Exists(Path.Combine(ComposeFolder, mount[0])))
                    problems.Add($"{service.Name}: {mount[0]} does not exist");
            // Scripts the command runs from a mounted folder.
            foreach (var argument in service.Command.Where(c => c.StartsWith('/') && c.EndsWith(".sh", StringComparison.Ordinal)))
            {
                var mount = mounts.FirstOrDefault(m => argument.StartsWith(m[1] + "/", StringComparison.Ordinal));
                if (mount is null) { problems.Add($"{service.Name}: {argument} is not in a mounted folder"); continue; }
                var file = Path.Combine(ComposeFolder, mount[0], argument[(mount[1].Length + 1)..]);
                if (!File.Exists(file)) problems.Add($"{service.Name}: {argument} ({file}) does not exist");
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void The_gateway_image_can_start_the_stdio_mcp_servers_portcullis_yaml_names()
    {
        var dockerfile = File.ReadAllText(Services["gateway"].Dockerfile!);
        var packages = File.ReadAllText(Path.Combine(Root, "tests", "mcp-servers", "package.json"));
        var config = new DeserializerBuilder().Build().Deserialize<Dictionary<string, object>>(File.ReadAllText(Path.Combine(Root, "portcullis.yaml")));
        var problems = new List<string>();
        var stdio = ((Dictionary<object, object>)config["connections"])
            .Select(c => (Name: (string)c.Key, Spec: (Dictionary<object, object>)c.Value))
            .Where(c => c.Spec.GetValueOrDefault("kind") as string == "mcp" && c.Spec.ContainsKey("command")).ToList();
        Assert.NotEmpty(stdio);
        foreach (var (name, spec) in stdio)
        {
            if ((string)spec["command"] == "node" && !dockerfile.Contains("/usr/local/bin/node /usr/local/bin/node", StringComparison.Ordinal))
                problems.Add($"{name}: the gateway image has no node");
            // Relative paths are read from the folder of portcullis.yaml, mounted at /config in the container.
            foreach (var argument in (spec.GetValueOrDefault("args") as List<object> ?? []).Cast<string>().Where(a => !a.StartsWith('/') && a.Contains('/')))
            {
                var folder = string.Join('/', argument.Split('/').Take(2));
                if (!dockerfile.Contains($"/config/{folder}", StringComparison.Ordinal))
                    problems.Add($"{name}: {argument} is not under /config/{folder} in the gateway image");
                if (Regex.Match(argument, "node_modules/(@[^/]+/[^/]+)") is { Success: true } package && !packages.Contains($"\"{package.Groups[1].Value}\"", StringComparison.Ordinal))
                    problems.Add($"{name}: {package.Groups[1].Value} is not in tests/mcp-servers/package.json");
            }
        }
        Assert.True(Services["gateway"].Volumes.Any(v => v.EndsWith(":/config/portcullis.yaml:ro", StringComparison.Ordinal)), "portcullis.yaml is not at /config");
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void The_keycloak_realm_has_the_groups_and_clients_and_every_placeholder_is_passed_in()
    {
        var realmFile = Services["keycloak"].Volumes.Select(v => v.Split(':')).Single(v => v[1].EndsWith(".json", StringComparison.Ordinal))[0];
        var realm = File.ReadAllText(Path.Combine(ComposeFolder, realmFile));
        var keycloak = Services["keycloak"].Environment;
        foreach (Match placeholder in RealmPlaceholder().Matches(realm))
            Assert.True(keycloak.ContainsKey(placeholder.Groups[1].Value), $"the realm uses ${{{placeholder.Groups[1].Value}}}, not in keycloak's environment");
        var json = System.Text.Json.JsonDocument.Parse(realm).RootElement;
        Assert.Equal(["admins", "agents", "approvers", "auditors", "dba"],
            json.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("name").GetString()!).Order().ToArray());
        var clients = json.GetProperty("clients").EnumerateArray().Select(c => c.GetProperty("clientId").GetString()!).ToArray();
        Assert.Contains("demo-agent", clients);
        Assert.Contains(Services["approval"].Environment["Console__ClientId"], clients);
        Assert.EndsWith("/realms/" + json.GetProperty("realm").GetString(), Services["gateway"].Environment["Auth__Authority"]);
    }

    [Fact]
    public void No_two_services_claim_a_host_port()
    {
        var claimed = Services.Values.SelectMany(s => s.Ports.Select(p => (Service: s.Name, Host: p.Split(':')[0]))).ToList();
        Assert.NotEmpty(claimed);
        var clashes = claimed.GroupBy(c => c.Host).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(c => c.Service))}").ToList();
        Assert.True(clashes.Count == 0, string.Join("; ", clashes));
        Assert.All(claimed, c => Assert.True(int.TryParse(c.Host, out _), $"{c.Service}: host port '{c.Host}' did not resolve"));
    }

    [Fact]
    public void Start_up_waits_only_on_health_checks_that_exist()
    {
        foreach (var service in Services.Values)
            foreach (var (dependency, condition) in service.DependsOn)
            {
                Assert.True(Services.ContainsKey((string)dependency), $"{service.Name} depends on unknown {dependency}");
                if (condition is Dictionary<object, object> c && (string)c["condition"] == "service_healthy")
                {
                    var target = Services[(string)dependency];
                    var hasCheck = target.Spec.ContainsKey("healthcheck")
                                   || (target.Dockerfile is { } file && File.ReadAllText(file).Contains("HEALTHCHECK", StringComparison.Ordinal));
                    Assert.True(hasCheck, $"{service.Name} waits for {dependency} to be healthy, but it has no health check");
                }
            }
    }

    [Fact]
    public void Every_image_is_built_with_the_publish_command_the_local_stack_uses()
    {
        var stack = File.ReadAllText(Path.Combine(Root, "scripts", "stack.sh"));
        Assert.Contains("scripts/publish.sh", stack);
        foreach (var service in Services.Values.Where(s => s.ServiceFolder is not null))
        {
            var dockerfile = File.ReadAllText(service.Dockerfile!);
            var folder = Path.GetRelativePath(Root, service.ServiceFolder!).Replace('\\', '/');
            Assert.Contains($"RUN scripts/publish.sh {folder} /app", dockerfile);
            Assert.Contains("USER $APP_UID", dockerfile); // not root
            Assert.Contains("HEALTHCHECK", dockerfile);
        }
        Assert.Contains("libpg-query1504.0", File.ReadAllText(Services["policy"].Dockerfile!));
    }

    [Fact]
    public void The_observability_stack_receives_every_service_and_its_dashboard_reads_metrics_the_services_publish()
    {
        foreach (var name in new[] { "otel-collector", "jaeger", "prometheus", "grafana" })
            Assert.True(Services.TryGetValue(name, out var service) && service.Spec.ContainsKey("healthcheck"), $"{name} is missing or has no health check");

        // Every Portcullis service exports to the collector's OTLP port, and Prometheus scrapes its /metrics.
        var collector = Yaml(Mounted("otel-collector", "/etc/otelcol-contrib/config.yaml"));
        var grpc = (string)At(collector, "receivers", "otlp", "protocols", "grpc", "endpoint");
        var scrape = Yaml(Mounted("prometheus", "/etc/prometheus/prometheus.yml"));
        var targets = ((List<object>)scrape["scrape_configs"]).Cast<Dictionary<object, object>>()
            .Where(job => (string)job["job_name"] == "portcullis")
            .SelectMany(job => ((List<object>)job["static_configs"]).Cast<Dictionary<object, object>>())
            .SelectMany(config => ((List<object>)config["targets"]).Cast<string>()).ToList();
        var exporting = Services.Values.Where(s => s.ServiceFolder is { } folder && Path.GetFileName(folder) != "demo").ToList();
        Assert.Equal(5, exporting.Count);
        foreach (var service in exporting)
        {
            Assert.Equal("http://otel-collector:" + grpc.Split(':')[^1], service.Environment.GetValueOrDefault("OTEL_EXPORTER_OTLP_ENDPOINT"));
            // Scraped where /metrics answers: the service's own port, or the port Metrics__Port keeps it to.
            var port = service.Environment.GetValueOrDefault("Metrics__Port") ?? "8080";
            Assert.Contains($"{service.Name}:{port}", targets);
        }
        // Agents reach the gateway's 8080: its /metrics (rule and connection names) answers on another port, one the
        // gateway listens on and the host does not publish.
        var gateway = Services["gateway"];
        var metricsPort = gateway.Environment.GetValueOrDefault("Metrics__Port");
        Assert.True(metricsPort is { Length: > 0 } && metricsPort != "8080", "the gateway serves /metrics on the agents' port");
        Assert.Contains($"http://+:{metricsPort}", gateway.Environment.GetValueOrDefault("ASPNETCORE_URLS") ?? "");
        Assert.Contains("http://+:8080", gateway.Environment["ASPNETCORE_URLS"]);
        Assert.DoesNotContain(gateway.Ports, p => p.Split(':')[^1] == metricsPort);
        // The collector's pipelines use only exporters it defines, and traces reach Jaeger.
        var exporters = (Dictionary<object, object>)collector["exporters"];
        foreach (var (pipeline, spec) in (Dictionary<object, object>)At(collector, "service", "pipelines"))
            foreach (string exporter in (List<object>)((Dictionary<object, object>)spec)["exporters"])
                Assert.True(exporters.ContainsKey(exporter), $"pipeline {pipeline} names exporter {exporter}, which is not defined");
        Assert.Contains("otlp/jaeger", ((List<object>)At(collector, "service", "pipelines", "traces", "exporters")).Cast<string>());
        Assert.StartsWith("jaeger:", (string)At(exporters, "otlp/jaeger", "endpoint"));
        // Exception events keep their messages in the services (span events cannot be changed there): the collector drops them.
        var processors = ((List<object>)At(collector, "service", "pipelines", "traces", "processors")).Cast<string>().ToList();
        Assert.Contains("transform/scrub", processors);
        Assert.Contains("delete_key(attributes, \"exception.message\")", Mounted("otel-collector", "/etc/otelcol-contrib/config.yaml"));
        Assert.Contains("jaeger", Services.Keys);

        // Grafana: Prometheus as a data source, and every metric its dashboard queries is one the services publish.
        var grafana = Services["grafana"].Volumes.Select(v => v.Split(':')).ToDictionary(v => v[1], v => Path.Combine(ComposeFolder, v[0]));
        var sources = Yaml(File.ReadAllText(Path.Combine(grafana["/etc/grafana/provisioning"], "datasources", "datasources.yaml")));
        Assert.Contains(((List<object>)sources["datasources"]).Cast<Dictionary<object, object>>(),
            d => (string)d["type"] == "prometheus" && (string)d["url"] == "http://prometheus:9090");
        var dashboard = File.ReadAllText(Path.Combine(grafana["/var/lib/grafana/dashboards"], "portcullis.json"));
        var published = PrometheusNamesOfThePortcullisMeter();
        var queried = DashboardMetric().Matches(dashboard).Select(m => m.Value).Distinct().ToList();
        Assert.True(queried.Count >= 12, "the dashboard queries too few metrics: " + string.Join(", ", queried));
        foreach (var metric in queried)
            Assert.True(published.Contains(metric), $"the dashboard queries {metric}, which no service publishes ({string.Join(", ", published)})");
        foreach (var topic in new[] { "Requests", "Decisions", "overhead", "masked", "Approvals", "Audit ingest lag", "projection lag" })
            Assert.Contains(topic, dashboard);
    }

    private static string Mounted(string service, string target)
    {
        var mount = Services[service].Volumes.Select(v => v.Split(':')).Single(v => v[1] == target);
        return File.ReadAllText(Path.Combine(ComposeFolder, mount[0]));
    }

    private static Dictionary<object, object> Yaml(string text) => new DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(text);

    private static object At(Dictionary<object, object> node, params string[] keys)
    {
        object current = node;
        foreach (var key in keys) current = ((Dictionary<object, object>)current)[key];
        return current;
    }

    /// <summary>
    /// The series names /metrics shows for the Portcullis meter's instruments, read from the instruments themselves (a
    /// listener is told of each) and written as the Prometheus exporter writes them: <c>_total</c> after a counter, the
    /// unit after a histogram (<c>_milliseconds</c>) and then <c>_bucket</c>, <c>_sum</c> and <c>_count</c>; a gauge as
    /// it is (a unit in braces, such as <c>{event}</c>, is not written).
    /// </summary>
    private static HashSet<string> PrometheusNamesOfThePortcullisMeter()
    {
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(PortcullisMetrics).TypeHandle);
        PortcullisMetrics.ObserveAuditProjectionLag(() => []); // made by the audit service when it starts
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name != PortcullisMetrics.MeterName) return;
            var unit = instrument.Unit switch
            {
                null or "" => "",
                "ms" => "_milliseconds",
                ['{', .., '}'] => "",
                var other => throw new Xunit.Sdk.XunitException($"{instrument.Name} has unit {other}, which this test cannot name"),
            };
            var type = instrument.GetType().GetGenericTypeDefinition();
            if (type == typeof(Counter<>) || type == typeof(ObservableCounter<>)) names.Add(instrument.Name + unit + "_total");
            else if (type == typeof(Histogram<>))
                names.UnionWith(new[] { "_bucket", "_sum", "_count" }.Select(suffix => instrument.Name + unit + suffix));
            else names.Add(instrument.Name + unit);
        };
        listener.Start(); // tells of every instrument made so far
        Assert.True(names.Count >= 10, "too few instruments found: " + string.Join(", ", names));
        return names;
    }

    /// <summary>A metric named in a PromQL expression.</summary>
    [GeneratedRegex(@"\bportcullis_[a-z_]+\b")]
    private static partial Regex DashboardMetric();

    private static Dictionary<string, string> ReadDotEnv(string path) =>
        File.ReadAllLines(path)
            .Select(line => line.Trim())
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split('=', 2))
            .ToDictionary(parts => parts[0], parts => parts[1]);

    /// <summary>Compose's interpolation: ${NAME} and ${NAME:-default} from .env; $$ is a literal $.</summary>
    private static string Substitute(string text) =>
        ComposeVariable().Replace(text, m => DotEnv.TryGetValue(m.Groups["name"].Value, out var value)
            ? value
            : m.Groups["default"].Success ? m.Groups["default"].Value : "");

    private static Dictionary<string, Service> Parse(string yaml)
    {
        var parser = new MergingParser(new Parser(new StringReader(yaml)));
        var document = new DeserializerBuilder().Build().Deserialize<Dictionary<object, object>>(parser);
        return ((Dictionary<object, object>)document["services"])
            .ToDictionary(s => (string)s.Key, s => new Service((string)s.Key, (Dictionary<object, object>)s.Value));
    }

    [GeneratedRegex(@"(?<!\$)\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?<default>[^}]*))?\}")]
    private static partial Regex ComposeVariable();

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex RealmPlaceholder();
}
