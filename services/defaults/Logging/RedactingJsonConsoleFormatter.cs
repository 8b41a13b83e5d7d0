using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Portcullis.Defaults.Logging;

/// <summary>
/// The console format when <c>Logging:Console:FormatterName</c> is <c>json</c>: one JSON object a line, with the
/// time, level, category, event id, message, the structured values of the message and of its scopes (an agent
/// request's <c>RequestId</c> and <c>SessionId</c> among them) and the trace and span ids. Every string passes through
/// <see cref="CredentialRedaction"/>, and a value whose name is a credential's is written as redacted, as in the
/// plain format. (The framework's own <c>json</c> formatter would write them untouched, so it is never used.)
/// </summary>
public sealed class RedactingJsonConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "portcullis-json";

    /// <summary>Names that read like credentials (they contain "session") but are identifiers the record needs.</summary>
    private static readonly HashSet<string> Identifiers = new(StringComparer.OrdinalIgnoreCase)
        { "RequestId", "SessionId", "TraceId", "SpanId", "ApprovalId" };

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null) return;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("Timestamp", DateTimeOffset.UtcNow.ToString("O"));
            json.WriteString("Level", logEntry.LogLevel.ToString());
            json.WriteString("Category", logEntry.Category);
            json.WriteNumber("EventId", logEntry.EventId.Id);
            json.WriteString("Message", CredentialRedaction.Redact(message));
            if (logEntry.Exception is not null) json.WriteString("Exception", CredentialRedaction.Redact(logEntry.Exception.ToString()));
            if (Activity.Current is { } activity)
            {
                json.WriteString("TraceId", activity.TraceId.ToHexString());
                json.WriteString("SpanId", activity.SpanId.ToHexString());
            }
            // Scope values first, the message's own after: a name in both keeps the message's.
            var written = new HashSet<string>(StringComparer.Ordinal) { "Timestamp", "Level", "Category", "EventId", "Message", "Exception", "TraceId", "SpanId" };
            var values = new List<KeyValuePair<string, object?>>();
            scopeProvider?.ForEachScope((scope, list) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object?>> pairs) list.AddRange(pairs);
            }, values);
            if (logEntry.State is IEnumerable<KeyValuePair<string, object?>> state) values.AddRange(state);
            for (var i = values.Count - 1; i >= 0; i--)
            {
                var (name, value) = values[i];
                if (name == "{OriginalFormat}" || !written.Add(name)) continue;
                json.WritePropertyName(name);
                Value(json, name, value);
            }
            json.WriteEndObject();
        }
        textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        textWriter.Write(Environment.NewLine);
    }

    private static void Value(Utf8JsonWriter json, string name, object? value)
    {
        if (CredentialRedaction.IsCredentialName(name) && !Identifiers.Contains(name))
        {
            json.WriteStringValue(CredentialRedaction.Redacted);
            return;
        }
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case bool b: json.WriteBooleanValue(b); break;
            case int or long or short or byte or uint or ulong or ushort:
                json.WriteNumberValue(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture)); break;
            case double d when double.IsFinite(d): json.WriteNumberValue(d); break;
            case float f when float.IsFinite(f): json.WriteNumberValue(f); break;
            case decimal m: json.WriteNumberValue(m); break;
            default:
                json.WriteStringValue(CredentialRedaction.Redact(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? ""));
                break;
        }
    }
}
