using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Portcullis.Defaults.Logging;

namespace Portcullis.Defaults.Telemetry;

/// <summary>
/// OpenTelemetry for every service. Metrics always: the <see cref="PortcullisMetrics.MeterName"/> meter (and
/// ASP.NET Core's and the HttpClient's) on a Prometheus scrape endpoint, <c>/metrics</c>, and over OTLP when an
/// endpoint is given. Traces only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set: ASP.NET Core, HttpClient,
/// MassTransit, Npgsql and Marten, one trace per agent request across the services (MassTransit carries the
/// trace context in its headers). With no endpoint no tracer is registered, so no span is created on the hot path.
/// What a span could carry that must not leave is taken off before export (<see cref="SpanScrubber"/>).
/// </summary>
public static class Telemetry
{
    /// <summary>The standard OTLP variable: its presence turns on tracing and OTLP export of metrics.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The activity sources traced besides the instrumentations' own.</summary>
    public static readonly string[] Sources = ["MassTransit", "Npgsql", "Marten", PortcullisActivities.SourceName];

    public static IHostApplicationBuilder AddPortcullisTelemetry(this IHostApplicationBuilder builder)
    {
        var service = builder.Environment.ApplicationName.Replace("Portcullis.", "", StringComparison.Ordinal).ToLowerInvariant();
        var otlp = !string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointVariable]);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("portcullis-" + service, serviceNamespace: "portcullis"))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(PortcullisMetrics.MeterName)
                    .AddAspNetCoreInstrumentation()
                    .AddHttpClientInstrumentation()
                    .AddView(instrument => instrument.Unit == "ms" && instrument.Meter.Name == PortcullisMetrics.MeterName
                        ? new ExplicitBucketHistogramConfiguration { Boundaries = PortcullisMetrics.MillisecondBuckets }
                        : null)
                    .AddPrometheusExporter(options => options.DisableTotalNameSuffixForCounters = false);
                if (otlp) metrics.AddOtlpExporter();
            });
        if (otlp)
            telemetry.WithTracing(tracing => tracing
                .AddSource(Sources)
                .AddAspNetCoreInstrumentation(options =>
                {
                    // Probes and scrapes are not requests anyone traces.
                    options.Filter = context => !context.Request.Path.StartsWithSegments("/health")
                                                && !context.Request.Path.StartsWithSegments("/metrics");
                    options.RecordException = false; // an exception's message can quote what it was given
                })
                .AddHttpClientInstrumentation(options => options.RecordException = false)
                .AddNpgsql()
                .AddProcessor(new SpanScrubber())
                .AddOtlpExporter());
        return builder;
    }

    /// <summary>The setting that keeps <c>/metrics</c> to one local port (one the service also listens on, for the scraper only).</summary>
    public const string MetricsPortSetting = "Metrics:Port";

    /// <summary>
    /// <c>/metrics</c> (Prometheus text; anonymous, as the health endpoints are: it holds counts by rule, connection
    /// and entity names, never a value) and the logging scope that names each request's id and session. With
    /// <c>Metrics:Port</c> set (for example 9464, a port the service also listens on and only the scraper reaches),
    /// <c>/metrics</c> answers only on connections made to that local port, and is not found on any other: rule and
    /// connection names are the policy's shape, which an agent need not learn. The connection's own port is what is
    /// checked, never the Host header, which the caller writes.
    /// </summary>
    public static WebApplication MapPortcullisTelemetry(this WebApplication app)
    {
        app.UseMiddleware<RequestLogScopeMiddleware>();
        var metrics = app.MapPrometheusScrapingEndpoint("/metrics");
        if (app.Configuration["Metrics:Hosts"] is { Length: > 0 })
            // The earlier setting matched the Host header, which any caller can forge: refuse it rather than serve openly.
            throw new InvalidOperationException("Metrics:Hosts is no longer read (it matched the Host header, which a caller " +
                                                "chooses): set Metrics:Port to the port /metrics answers on instead.");
        if (app.Configuration[MetricsPortSetting] is { Length: > 0 } setting)
        {
            if (!int.TryParse(setting, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
                || port is < 1 or > 65535)
                throw new InvalidOperationException($"{MetricsPortSetting} must be a port number (1-65535), not '{setting}'.");
            metrics.Add(endpoint =>
            {
                var scrape = endpoint.RequestDelegate!;
                endpoint.RequestDelegate = context =>
                {
                    if (context.Connection.LocalPort == port) return scrape(context);
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                };
            });
        }
        return app;
    }

    /// <summary>
    /// Names the agent request this HTTP request became: on the current span and its parents up to the request's
    /// own (so the trace can be found by either), and in the request's logging scope (so every line logged for it
    /// says them). Costs two field writes when tracing is off.
    /// </summary>
    public static void IdentifyRequest(HttpContext context, Guid requestId, string sessionId)
    {
        if (context.Features.Get<RequestLogScope>() is { } scope) (scope.RequestId, scope.SessionId) = (requestId, sessionId);
        PortcullisActivities.Tag(Activity.Current, requestId, sessionId);
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpActivityFeature>()?.Activity is { } root
            && root != Activity.Current)
            PortcullisActivities.Tag(root, requestId, sessionId);
    }
}

/// <summary>Portcullis's own activity source and the attribute names every span of a request carries.</summary>
public static class PortcullisActivities
{
    public const string SourceName = "Portcullis";
    public const string RequestIdAttribute = "portcullis.request_id";
    public const string SessionIdAttribute = "portcullis.session_id";
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// The root span of an agent request that does not arrive as an HTTP request (a statement on the PostgreSQL port),
    /// so that its messages, decision, masking and record are one trace as an HTTP request's are. Null when nothing
    /// traces. The name is fixed: never the statement, which can hold customer data.
    /// </summary>
    public static Activity? StartAgentRequest(string name) => Source.StartActivity(name, ActivityKind.Server);

    public static void Tag(Activity? activity, Guid requestId, string sessionId)
    {
        if (activity is null || !activity.IsAllDataRequested) return;
        activity.SetTag(RequestIdAttribute, requestId.ToString());
        activity.SetTag(SessionIdAttribute, sessionId);
    }
}

/// <summary>
/// Takes off a span, before it is exported, what could carry a value the agent or a customer supplied: SQL text
/// (Npgsql puts the statement in <c>db.statement</c> / <c>db.query.text</c>; the gateway's upstream SQL holds
/// literals), query strings (which may hold credentials), and error descriptions of database spans (PostgreSQL
/// quotes the offending value). Every other string attribute passes through <see cref="CredentialRedaction"/>.
/// Span events cannot be changed once added (the runtime copies their tags), so an exception event keeps its message:
/// ASP.NET Core's and HttpClient's are not recorded, the gateway's upstream SQL (whose errors quote customer data) is
/// not traced at all, and the compose collector deletes exception messages from every span event.
/// </summary>
public sealed class SpanScrubber : BaseProcessor<Activity>
{
    private static readonly string[] Dropped =
    [
        "db.statement", "db.query.text", "db.query.parameter", "url.query", "http.url", "http.target",
        "exception.message", "exception.stacktrace",
    ];

    public override void OnEnd(Activity activity)
    {
        foreach (var name in Dropped)
            if (activity.GetTagItem(name) is not null) activity.SetTag(name, null);
        if (activity.GetTagItem("url.full") is string full && full.IndexOf('?') is var query and >= 0)
            activity.SetTag("url.full", full[..query]);
        if (activity.Source.Name == "Npgsql" && activity.StatusDescription is not null)
            activity.SetStatus(activity.Status, null);
        List<(string, string)>? redacted = null;
        foreach (var (name, value) in activity.Tags)
            if (value is { Length: > 0 } && CredentialRedaction.Redact(value) is var clean && !ReferenceEquals(clean, value) && clean != value)
                (redacted ??= []).Add((name, clean));
        if (redacted is not null)
            foreach (var (name, clean) in redacted) activity.SetTag(name, clean);
    }
}

/// <summary>The logging scope of one HTTP request, filled in once the request has an id and a session.</summary>
public sealed class RequestLogScope : IReadOnlyList<KeyValuePair<string, object?>>
{
    public Guid? RequestId { get; set; }
    public string? SessionId { get; set; }

    public int Count => RequestId is null ? 0 : 2;

    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("RequestId", RequestId),
        1 => new("SessionId", SessionId),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++) yield return this[i];
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => RequestId is null ? "" : $"RequestId:{RequestId} SessionId:{SessionId}";
}

internal sealed class RequestLogScopeMiddleware(RequestDelegate next, ILogger<RequestLogScopeMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var scope = new RequestLogScope();
        context.Features.Set(scope);
        using (logger.BeginScope(scope)) await next(context);
    }
}
