using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace Portcullis.Defaults.Logging;

/// <summary>
/// The console format of every service (one line an entry: "HH:mm:ss.fff info: Category[event] message"), with
/// <see cref="CredentialRedaction"/> applied to the message and the exception. Redacting here, where every
/// line is written, covers the loggers we do not own (ASP.NET Core's request lines, YARP, HttpClient, OpenIddict)
/// as well as our own. Line breaks become spaces, so an input cannot forge a log line of its own either.
/// </summary>
public sealed class RedactingConsoleFormatter() : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "portcullis";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null) return;
        var line = $"{DateTimeOffset.Now:HH:mm:ss.fff} {Level(logEntry.LogLevel)}: {logEntry.Category}[{logEntry.EventId.Id}] {message}";
        if (logEntry.Exception is not null) line += " " + logEntry.Exception;
        textWriter.Write(CredentialRedaction.Redact(line.ReplaceLineEndings(" ")));
        textWriter.Write(Environment.NewLine);
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
