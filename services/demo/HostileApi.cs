using System.IO.Compression;
using System.Text;

namespace Portcullis.Demo;

/// <summary>
/// An upstream that answers in ways meant to slip past a proxy's masking: compressed or partial bodies, labels that lie
/// about the content, trailers, redirects to other places, and an echo of the request's own headers (the gateway's
/// credential among them). For the http proxy tests.
/// </summary>
public static class HostileApi
{
    private const string Record = """{"id":1,"email":"ada.lovelace@example.com","billing":{"address":"12 Analytical Way, London"}}""";

    public static WebApplication MapHostileApi(this WebApplication app)
    {
        // Content-Encoding as asked (gzip and deflate really compressed; other codings only labelled).
        app.MapGet("/hostile/encoded", async (string coding, HttpResponse response) =>
        {
            var bytes = Encoding.UTF8.GetBytes(Record);
            if (coding is "gzip" or "deflate")
            {
                using var buffer = new MemoryStream();
                await using (Stream zip = coding == "gzip" ? new GZipStream(buffer, CompressionLevel.Fastest) : new ZLibStream(buffer, CompressionLevel.Fastest))
                    await zip.WriteAsync(bytes);
                bytes = buffer.ToArray();
            }
            response.ContentType = "application/json";
            response.Headers.ContentEncoding = coding;
            await response.Body.WriteAsync(bytes);
        });
        // The record under whatever label is asked for ("none" sends no Content-Type at all).
        app.MapGet("/hostile/typed", async (string type, HttpResponse response) =>
        {
            if (type != "none") response.ContentType = type;
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(Record));
        });
        app.MapGet("/hostile/partial", async (HttpResponse response) =>
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.ContentType = "application/json";
            response.Headers.ContentRange = $"bytes 0-19/{Record.Length}";
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(Record[..20]));
        });
        app.MapGet("/hostile/trailer", async (HttpResponse response) =>
        {
            response.ContentType = "application/json";
            response.DeclareTrailer("X-Debug-Token");
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes("""{"ok":true}"""));
            if (response.SupportsTrailers()) response.AppendTrailer("X-Debug-Token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a");
        });
        // A redirect (or Refresh) to wherever the caller says, with the status it says.
        app.MapGet("/hostile/redirect", (string to, int? status, HttpResponse response) =>
        {
            response.StatusCode = status ?? StatusCodes.Status302Found;
            response.Headers.Location = to;
            response.Headers.ContentLocation = to;
        });
        app.MapGet("/hostile/refresh", (string to, HttpResponse response) =>
        {
            response.Headers["Refresh"] = "0; url=" + to;
            return Results.Text("moved", "text/plain");
        });
        // The request's headers, as debug endpoints return them: the credential the gateway added is among them.
        app.MapGet("/hostile/echo", (HttpRequest request, string? encode) =>
        {
            var headers = request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString());
            return encode == "base64"
                ? Results.Text(Convert.ToBase64String(Encoding.UTF8.GetBytes(string.Join('\n', headers.Select(h => $"{h.Key}: {h.Value}")))), "text/plain")
                : Results.Json(headers);
        });
        return app;
    }
}
