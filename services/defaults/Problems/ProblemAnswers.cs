using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using BadHttpRequestException = Microsoft.AspNetCore.Http.BadHttpRequestException;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.WebUtilities;
using Npgsql;

namespace Portcullis.Defaults.Problems;

/// <summary>
/// One place where every service turns a failed request into a problem document (application/problem+json):
/// bad input (unreadable JSON, wrong types, missing or unparsable parameters, bodies or forms over the limits,
/// text that is not UTF-8) is a 4xx that says what was wrong; anything else is a bare 500 that says nothing of
/// the server. Never the developer exception page, a stack trace, an exception's type or the request's headers,
/// in any environment.
/// </summary>
public static class ProblemAnswers
{
    public const string ProblemBase = "https://portcullis.dev/problems/";

    /// <summary>The limits of what a request may carry, and the handler that answers when one is passed.</summary>
    public static IHostApplicationBuilder AddProblemAnswers(this IHostApplicationBuilder builder)
    {
        var limits = builder.Configuration.GetSection("Http");
        var maxBody = limits.GetValue<long>("MaxRequestBodyBytes", 16 * 1024 * 1024);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<BadInputExceptionHandler>();
        // In Development the host puts the developer exception page in front of everything (it would catch what
        // the authentication middleware throws before our handler sees it): it answers as the handler does.
        builder.Services.AddSingleton<IDeveloperPageExceptionFilter, ProblemAnswerDeveloperPageFilter>();
        builder.Services.Configure<KestrelServerOptions>(kestrel => kestrel.Limits.MaxRequestBodySize = maxBody);
        builder.Services.Configure<FormOptions>(form =>
        {
            form.ValueCountLimit = limits.GetValue("MaxFormFields", 256);
            form.KeyLengthLimit = 1024;
            form.ValueLengthLimit = (int)Math.Min(maxBody, int.MaxValue);
            form.MultipartBodyLengthLimit = maxBody;
        });
        // A body JSON cannot bind to is an exception here in every environment (not only in Development), so
        // the handler below answers it with what was wrong instead of an empty 400.
        builder.Services.PostConfigure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.MaxDepth = JsonMaxDepth);
        return builder;
    }

    /// <summary>Deeper than any request of ours needs; a 10,000-deep document is refused, not recursed into.</summary>
    public const int JsonMaxDepth = 64;

    /// <summary>
    /// The exception handler, problem bodies for bare 4xx answers (no route, wrong method, forbidden), and the
    /// refusal of a NUL character in the path or query, which no API of ours takes and PostgreSQL cannot store.
    /// </summary>
    public static WebApplication UseProblemAnswers(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages(WriteStatusProblem);
        app.Use(RefuseNulCharacters);
        return app;
    }

    private static async Task WriteStatusProblem(StatusCodeContext status)
    {
        var context = status.HttpContext;
        var code = context.Response.StatusCode;
        var detail = code switch
        {
            StatusCodes.Status404NotFound => "Nothing is served at this path.",
            StatusCodes.Status405MethodNotAllowed => $"This path does not take {context.Request.Method} requests.",
            StatusCodes.Status403Forbidden => "The bearer token is valid but does not allow this (a group it is not in).",
            StatusCodes.Status401Unauthorized => "A valid bearer token is required.",
            _ => ReasonPhrases.GetReasonPhrase(code),
        };
        await Results.Problem(statusCode: code, title: ReasonPhrases.GetReasonPhrase(code), detail: detail,
            type: ProblemBase + code switch { 404 => "not-found", 405 => "method-not-allowed", 403 => "forbidden", _ => "status-" + code })
            .ExecuteAsync(context);
    }

    private static async Task RefuseNulCharacters(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.Value?.Contains('\0') == true
            || context.Request.Query.Any(p => p.Key.Contains('\0') || p.Value.Any(v => v?.Contains('\0') == true)))
        {
            await Results.Problem(statusCode: 400, title: "Bad request", type: ProblemBase + "bad-text",
                detail: "The path or query carries a NUL character (%00): no API takes one.").ExecuteAsync(context);
            return;
        }
        await next(context);
    }

    /// <summary>What a failed request gets: status, problem type, title and a detail that names what was wrong.</summary>
    public static (int Status, string Type, string Title, string Detail) Classify(Exception exception) => exception switch
    {
        BadHttpRequestException bad when bad.InnerException is JsonException json =>
            (bad.StatusCode, "bad-json", "The body is not valid JSON for this endpoint", DescribeJson(json)),
        BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
            (413, "too-large", "Request too large", "The request body is larger than this endpoint accepts."),
        BadHttpRequestException { InnerException: InvalidDataException data } => FromInvalidData(data),
        BadHttpRequestException { InnerException: DecoderFallbackException } =>
            (400, "bad-encoding", "Bad request", "The request is not valid UTF-8 text."),
        BadHttpRequestException { InnerException: InvalidOperationException inner } when IsUnknownCharset(inner) => UnknownCharset,
        InvalidOperationException inner when IsUnknownCharset(inner) => UnknownCharset,
        BadHttpRequestException bad =>
            (bad.StatusCode is >= 400 and < 500 ? bad.StatusCode : 400, "bad-request", "Bad request", Sentence(bad.Message)),
        _ when Find<PostgresException>(exception) is { SqlState: "22021" or "22P05" } =>
            (400, "bad-text", "Bad request", "The request carries text the store cannot hold (a NUL character or an invalid byte sequence)."),
        JsonException json => (400, "bad-json", "The body is not valid JSON for this endpoint", DescribeJson(json)),
        InvalidDataException data => FromInvalidData(data),
        DecoderFallbackException => (400, "bad-encoding", "Bad request", "The request is not valid UTF-8 text."),
        FormatException or OverflowException =>
            (400, "bad-request", "Bad request", "A value in the request is not in a form or range this endpoint accepts."),
        _ => (500, "internal", "Internal error",
            "The request failed on the server. Nothing about the failure is shown here; its trace id is in the server's log."),
    };

    private static readonly (int, string, string, string) UnknownCharset =
        (415, "bad-charset", "Unsupported charset", "The Content-Type names a charset this endpoint does not read: send UTF-8.");

    /// <summary>The framework's words when a Content-Type names an encoding that does not exist.</summary>
    private static bool IsUnknownCharset(InvalidOperationException exception) =>
        exception.InnerException is ArgumentException && exception.Message.Contains("charset", StringComparison.Ordinal);

    private static T? Find<T>(Exception exception) where T : Exception
    {
        for (Exception? e = exception; e is not null; e = e.InnerException)
            if (e is T found) return found;
        return null;
    }

    private static (int, string, string, string) FromInvalidData(InvalidDataException data) =>
        data.Message.Contains("limit", StringComparison.OrdinalIgnoreCase)
            ? (413, "too-large", "Request too large", "The form has more fields, or longer names or values, than this endpoint accepts.")
            : (400, "bad-form", "Bad request", "The form body could not be read.");

    /// <summary>
    /// The reader's own words (position, what it met), without the .NET type it was converting to, which says
    /// nothing to a client and something about the server.
    /// </summary>
    private static string DescribeJson(JsonException json)
    {
        var where = json.Path is { Length: > 0 } path ? $" at {path}" : "";
        if (json.InnerException is DecoderFallbackException || json.InnerException?.InnerException is DecoderFallbackException)
            return $"The body is not valid UTF-8{where}.";
        var message = json.Message;
        foreach (var tail in new[] { " Path: ", " LineNumber: " })
            if (message.IndexOf(tail, StringComparison.Ordinal) is >= 0 and var cut) message = message[..cut];
        if (message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
            return $"The value{where} has the wrong type (or is out of range) for this field.";
        if (message.Contains("maximum configured depth", StringComparison.Ordinal))
            return $"The JSON is nested deeper than {JsonMaxDepth} levels.";
        if (message.Contains("invalid UTF-8", StringComparison.OrdinalIgnoreCase) || message.Contains("transcode", StringComparison.OrdinalIgnoreCase))
            return $"The body is not valid UTF-8{where}.";
        return $"{Sentence(message)}{(where.Length > 0 ? $" (at {json.Path})" : "")}";
    }

    /// <summary>A framework message as a detail: one line, no type names of ours beyond what it says.</summary>
    private static string Sentence(string message)
    {
        var line = message.ReplaceLineEndings(" ").Trim();
        return line.Length > 300 ? line[..300] + "…" : line;
    }
}

/// <summary>
/// The exception handler of every service (see <see cref="ProblemAnswers"/>). It always answers while it still
/// can, so the exception never reaches the developer exception page, which would echo headers and stack.
/// </summary>
public sealed class BadInputExceptionHandler(ILogger<BadInputExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (context.Response.HasStarted) return false;
        if (exception is OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            context.Response.StatusCode = 499; // the client went away: nobody to answer
            return true;
        }
        var (status, type, title, detail) = ProblemAnswers.Classify(exception);
        if (status >= 500)
            logger.LogError(exception, "{Method} {Path} failed; answered 500 without details (trace {TraceId})",
                context.Request.Method, context.Request.Path, context.TraceIdentifier);
        else
            logger.LogInformation("{Method} {Path}: bad input answered {Status} ({Detail})",
                context.Request.Method, context.Request.Path, status, detail);
        context.Response.Headers.Clear();
        await Results.Problem(statusCode: status, title: title, detail: detail, type: ProblemAnswers.ProblemBase + type,
                extensions: new Dictionary<string, object?> { ["traceId"] = context.TraceIdentifier })
            .ExecuteAsync(context);
        return true;
    }
}

/// <summary>
/// Stands in for the developer exception page, which would print the stack and the request's headers (bearer
/// tokens included): whatever reaches it gets the same problem answer as <see cref="BadInputExceptionHandler"/>.
/// </summary>
public sealed class ProblemAnswerDeveloperPageFilter(ILogger<BadInputExceptionHandler> logger) : IDeveloperPageExceptionFilter
{
    public async Task HandleExceptionAsync(ErrorContext errorContext, Func<ErrorContext, Task> next)
    {
        var context = errorContext.HttpContext;
        if (context.Response.HasStarted) return;
        context.Response.Clear();
        if (!await new BadInputExceptionHandler(logger).TryHandleAsync(context, errorContext.Exception, context.RequestAborted))
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
    }
}
