using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.Benchmarks;

/// <summary>
/// What telemetry adds to one agent request when tracing is off (no OTLP endpoint): the metric records the services
/// make for it (with the SDK listening, as /metrics has it), the request's logging scope, and a span start that finds
/// no listener. dotnet run -c Release --project tests/Portcullis.Benchmarks -- --filter '*TelemetryBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class TelemetryBenchmarks
{
    private MeterProvider _meters = null!;
    private ILoggerFactory _loggers = null!;
    private ILogger _logger = null!;
    private readonly Guid _requestId = Guid.NewGuid();

    [GlobalSetup]
    public void Setup()
    {
        _meters = Sdk.CreateMeterProviderBuilder().AddMeter(PortcullisMetrics.MeterName)
            .AddView(i => i.Unit == "ms" ? new ExplicitBucketHistogramConfiguration { Boundaries = PortcullisMetrics.MillisecondBuckets } : null)
            .AddReader(new PeriodicExportingMetricReader(new DiscardingExporter(), 3_600_000)).Build()!;
        _loggers = LoggerFactory.Create(logging => logging.AddConsole());
        _logger = _loggers.CreateLogger("bench");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _meters.Dispose();
        _loggers.Dispose();
    }

    /// <summary>Every record one allowed, masked HTTP request causes, across the services.</summary>
    [Benchmark]
    public void Metrics_of_one_request()
    {
        var protocol = new KeyValuePair<string, object?>("protocol", "http");
        var connection = new KeyValuePair<string, object?>("connection", "demo");
        PortcullisMetrics.Decisions.Add(1, new("effect", "allow"), new("rule", "default"), connection);
        PortcullisMetrics.ValuesMasked.Add(2, new("entity", "EMAIL"), connection);
        PortcullisMetrics.Requests.Add(1, protocol, new("outcome", "completed"), connection);
        PortcullisMetrics.UpstreamLatency.Record(3.2, protocol, connection);
        PortcullisMetrics.GatewayOverhead.Record(4.1, protocol);
        for (var i = 0; i < 5; i++) PortcullisMetrics.AuditIngestLag.Record(12.5);
    }

    [Benchmark]
    public void Logging_scope_of_one_request()
    {
        var scope = new RequestLogScope();
        using (_logger.BeginScope(scope)) (scope.RequestId, scope.SessionId) = (_requestId, "session-1");
    }

    [Benchmark]
    public bool Span_start_with_tracing_off()
    {
        using var activity = PortcullisActivities.Source.StartActivity("audit record");
        return activity is null;
    }

    private sealed class DiscardingExporter : BaseExporter<Metric>
    {
        public override ExportResult Export(in Batch<Metric> batch) => ExportResult.Success;
    }
}
