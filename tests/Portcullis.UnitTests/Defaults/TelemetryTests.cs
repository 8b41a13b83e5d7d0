using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry.Trace;
using Portcullis.Defaults;
using Portcullis.Defaults.Logging;
using Portcullis.Defaults.Telemetry;

namespace Portcullis.UnitTests.Defaults;

public class TelemetryTests
{
    private const string Jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl";

    [Fact]
    public void The_scrubber_takes_sql_text_query_strings_database_errors_and_credentials_off_a_span()
    {
        using var source = new ActivitySource("Npgsql");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        using var activity = source.StartActivity("postgresql")!;
        activity.SetTag("db.statement", "SELECT * FROM customers WHERE email = 'ada@example.com'");
        activity.SetTag("db.query.text", "SELECT 'ada@example.com'");
        activity.SetTag("url.query", "?api_key=abc");
        activity.SetTag("url.full", "http://upstream/customers?access_token=abc&page=2");
        activity.SetTag("http.request.header.authorization", "Bearer " + Jwt);
        activity.SetTag("db.system", "postgresql");
        activity.SetStatus(ActivityStatusCode.Error, "duplicate key value (email)=(ada@example.com)");

        new SpanScrubber().OnEnd(activity);

        Assert.Null(activity.GetTagItem("db.statement"));
        Assert.Null(activity.GetTagItem("db.query.text"));
        Assert.Null(activity.GetTagItem("url.query"));
        Assert.Equal("http://upstream/customers", activity.GetTagItem("url.full"));
        Assert.DoesNotContain(Jwt, (string)activity.GetTagItem("http.request.header.authorization")!);
        Assert.Equal("postgresql", activity.GetTagItem("db.system"));
        Assert.Equal(ActivityStatusCode.Error, activity.Status);
        Assert.Null(activity.StatusDescription);
    }

    [Fact]
    public void Json_log_lines_are_one_object_each_with_the_request_scope_and_nothing_to_hide()
    {
        var formatter = new RedactingJsonConsoleFormatter();
        var scopes = new LoggerExternalScopeProvider();
        var requestId = Guid.NewGuid();
        using var _ = scopes.Push(new RequestLogScope { RequestId = requestId, SessionId = "run-7" });
        var state = new List<KeyValuePair<string, object?>>
        {
            new("Connection", "warehouse"), new("Token", "plain-secret-value"), new("{OriginalFormat}", "..."),
        };
        var entry = new LogEntry<List<KeyValuePair<string, object?>>>(LogLevel.Warning, "Portcullis.Test", new EventId(7), state,
            new InvalidOperationException("failed with " + Jwt), (_, _) => "Calling warehouse\nwith Bearer " + Jwt);
        using var writer = new StringWriter();

        formatter.Write(entry, scopes, writer);

        var text = writer.ToString();
        Assert.Single(text.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        var line = JsonDocument.Parse(text).RootElement;
        Assert.Equal("Warning", line.GetProperty("Level").GetString());
        Assert.Equal(requestId.ToString(), line.GetProperty("RequestId").GetString());
        Assert.Equal("run-7", line.GetProperty("SessionId").GetString());
        Assert.Equal("warehouse", line.GetProperty("Connection").GetString());
        Assert.Equal(CredentialRedaction.Redacted, line.GetProperty("Token").GetString());
        Assert.DoesNotContain(Jwt, text);
        Assert.DoesNotContain("plain-secret-value", text);
    }

    [Fact]
    public void Without_an_otlp_endpoint_no_tracer_is_registered_and_metrics_still_are()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Configuration[Telemetry.OtlpEndpointVariable] = "";
        builder.AddServiceDefaults();
        using var app = builder.Build();
        Assert.Null(app.Services.GetService<TracerProvider>());
        Assert.NotNull(app.Services.GetService<OpenTelemetry.Metrics.MeterProvider>());

        var traced = WebApplication.CreateBuilder();
        traced.Configuration[Telemetry.OtlpEndpointVariable] = "http://127.0.0.1:4317";
        traced.AddServiceDefaults();
        using var tracedApp = traced.Build();
        Assert.NotNull(tracedApp.Services.GetService<TracerProvider>());
    }
}
