using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>
/// An OTLP/HTTP receiver (protobuf) in the test process: what the services export when OTEL_EXPORTER_OTLP_ENDPOINT
/// names it. Spans are decoded (trace, span, parent, name, service, string attributes); every export body is also kept
/// as text, so a value searched for is found wherever in a span it sits (attributes, events, status, resource).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();
    private readonly ConcurrentQueue<string> _bodies = new();
    private readonly ConcurrentQueue<string> _metricBodies = new();

    private OtlpReceiver(WebApplication app) => _app = app;

    public string Endpoint { get; private init; } = "";
    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    /// <summary>Every trace export received, its bytes read as UTF-8 (protobuf keeps strings as they are).</summary>
    public IReadOnlyCollection<string> TraceExports => _bodies;

    /// <summary>Every metric export received, read the same way (instrument names and label values are strings in it).</summary>
    public IReadOnlyCollection<string> MetricExports => _metricBodies;

    public static async Task<OtlpReceiver> StartAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app) { Endpoint = $"http://127.0.0.1:{port}" };
        app.MapPost("/v1/traces", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var body = buffer.ToArray();
            receiver._bodies.Enqueue(Encoding.UTF8.GetString(body));
            foreach (var span in Decode(body)) receiver._spans.Enqueue(span);
            return Results.Bytes([], "application/x-protobuf");
        });
        app.MapPost("/v1/metrics", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            receiver._metricBodies.Enqueue(Encoding.UTF8.GetString(buffer.ToArray()));
            return Results.Bytes([], "application/x-protobuf");
        });
        // Logs are accepted and not kept.
        app.MapPost("/v1/logs", () => Results.Bytes([], "application/x-protobuf"));
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    // ExportTraceServiceRequest: 1 resource_spans { 1 resource { 1 attributes }, 2 scope_spans { 2 spans } }.
    private static IEnumerable<ReceivedSpan> Decode(byte[] body)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var (field, resourceSpans) in Fields(body))
        {
            if (field != 1) continue;
            var service = "";
            var scopes = new List<byte[]>();
            foreach (var (f, value) in Fields(resourceSpans))
                if (f == 1)
                {
                    foreach (var (a, attribute) in Fields(value))
                        if (a == 1 && Attribute(attribute) is ("service.name", var name)) service = name;
                }
                else if (f == 2) scopes.Add(value);
            foreach (var scope in scopes)
                foreach (var (f, span) in Fields(scope))
                    if (f == 2) spans.Add(Span(service, span));
        }
        return spans;
    }

    // Span: 1 trace_id, 2 span_id, 4 parent_span_id, 5 name, 9 attributes (KeyValue).
    private static ReceivedSpan Span(string service, byte[] span)
    {
        string traceId = "", spanId = "", parentId = "", name = "";
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (f, value) in Fields(span))
            switch (f)
            {
                case 1: traceId = Convert.ToHexStringLower(value); break;
                case 2: spanId = Convert.ToHexStringLower(value); break;
                case 4: parentId = Convert.ToHexStringLower(value); break;
                case 5: name = Encoding.UTF8.GetString(value); break;
                case 9 when Attribute(value) is ({ } key, var text): attributes[key] = text; break;
            }
        return new ReceivedSpan(service, traceId, spanId, parentId, name, attributes);
    }

    // KeyValue: 1 key, 2 AnyValue { 1 string_value, ... }; values other than strings are kept as "".
    private static (string? Key, string Value) Attribute(byte[] keyValue)
    {
        string? key = null;
        var text = "";
        foreach (var (f, value) in Fields(keyValue))
            if (f == 1) key = Encoding.UTF8.GetString(value);
            else if (f == 2)
                foreach (var (v, inner) in Fields(value))
                    if (v == 1) text = Encoding.UTF8.GetString(inner);
        return (key, text);
    }

    /// <summary>The length-delimited fields of a protobuf message (others are skipped), in order.</summary>
    private static List<(int Field, byte[] Value)> Fields(byte[] message)
    {
        var fields = new List<(int, byte[])>();
        var at = 0;
        while (at < message.Length)
        {
            var tag = Varint(message, ref at);
            var field = (int)(tag >> 3);
            switch (tag & 7)
            {
                case 0: Varint(message, ref at); break;
                case 1: at += 8; break;
                case 5: at += 4; break;
                case 2:
                    var length = (int)Varint(message, ref at);
                    fields.Add((field, message.AsSpan(at, length).ToArray()));
                    at += length;
                    break;
                default: throw new InvalidDataException($"protobuf wire type {tag & 7} at {at}");
            }
        }
        return fields;
    }

    private static ulong Varint(byte[] data, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
    }
}

/// <summary>One span as exported: the service (resource service.name) and its string attributes.</summary>
public sealed record ReceivedSpan(string Service, string TraceId, string SpanId, string ParentSpanId, string Name,
    IReadOnlyDictionary<string, string> Attributes);
