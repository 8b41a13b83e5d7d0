using System.Collections.Concurrent;

namespace Portcullis.Demo;

public static class DemoApi
{
    private static readonly Customer[] Customers =
    [
        new(1, "Ada Lovelace", "ada.lovelace@example.com", "Analytical Engines Ltd"),
        new(2, "Grace Hopper", "grace.hopper@example.org", "Compilers Inc"),
        new(3, "Alan Turing", "alan@turing.example.net", "Bletchley Works"),
    ];

    public static WebApplication MapDemoApi(this WebApplication app)
    {
        app.MapGet("/customers", () => Customers);
        app.MapGet("/customers/{id:int}", (int id) =>
            Customers.FirstOrDefault(c => c.Id == id) is { } customer ? Results.Ok(customer) : Results.NotFound());
        app.MapGet("/customers/{id:int}/billing", (int id) =>
            Customers.FirstOrDefault(c => c.Id == id) is { } customer
                ? Results.Ok(new
                {
                    customerId = customer.Id,
                    email = customer.Email,
                    card = "4111 1111 1111 1111",
                    billing = new { address = "12 Analytical Way, London", country = "GB" },
                    notes = "deploy with AKIAIOSFODNN7EXAMPLE, questions to billing@example.com",
                })
                : Results.NotFound());
        // An upstream that leaks in its headers, as debug builds and careless frameworks do.
        app.MapGet("/customers/{id:int}/debug", (int id, HttpResponse response) =>
        {
            response.Headers["Set-Cookie"] = "session=4f1d2c9a8b7e6d5c; HttpOnly";
            response.Headers["X-Debug-Token"] = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
            response.Headers["X-Contact"] = "ada.lovelace@example.com";
            response.Headers["X-Request-Count"] = "7";
            return Results.Ok(new { id, debug = true });
        });
        // A large answer, for outputs masked in chunks: count customers with email, card and notes (and, when
        // asked, JSON that breaks after them); its header leaks a contact too.
        app.MapGet("/customers/bulk", (int? count, bool? broken, HttpResponse response) =>
        {
            response.Headers["X-Contact"] = "ada.lovelace@example.com";
            var records = Enumerable.Range(1, Math.Clamp(count ?? 1000, 1, 50_000)).Select(i =>
                $$"""{"id":{{i}},"name":"Customer {{i}}","email":"customer{{i}}@example.com","card":"4111 1111 1111 1111","notes":"call +31 6 1234 {{i % 10000:0000}}"}""");
            return Results.Text("[" + string.Join(",", records) + (broken == true ? ", {oops" : "]"), "application/json");
        });
        app.MapGet("/customers/export", () => Results.Text(
            string.Join('\n', Customers.Select(c => $"{c.Id},{c.Name},{c.Email}")), "text/csv"));
        app.MapGet("/admin/config", () => new { database = "demo", feature_flags = new[] { "beta" } });
        app.MapGet("/health/live", () => Results.Ok());

        // What reached this upstream, for tests and the demo: method, path, and the names of the headers.
        app.MapGet("/__requests", (RequestLog log) => log.Entries);
        app.MapDelete("/__requests", (RequestLog log) => { log.Clear(); return Results.NoContent(); });

        // A stand-in for a chat channel: approval notifications posted here (by a Dapr HTTP binding in compose).
        var inbox = new ConcurrentQueue<System.Text.Json.JsonElement>();
        app.MapPost("/__notifications", (System.Text.Json.JsonElement message) => { inbox.Enqueue(message); return Results.Ok(); });
        app.MapGet("/__notifications", () => inbox.ToArray());
        return app;
    }
}

public sealed record Customer(int Id, string Name, string Email, string Company);

public sealed record SeenRequest(string Method, string Path, string? Query, string[] Headers, string? RawTarget = null,
    string? Host = null, long? BodyLength = null);

public sealed class RequestLog
{
    private readonly ConcurrentQueue<SeenRequest> _entries = new();

    public IReadOnlyCollection<SeenRequest> Entries => _entries.ToArray();

    public void Add(HttpRequest request) => _entries.Enqueue(new SeenRequest(
        request.Method, request.Path, request.QueryString.HasValue ? request.QueryString.Value : null,
        [.. request.Headers.Keys.Order(StringComparer.OrdinalIgnoreCase)],
        request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget,
        request.Host.Value, request.ContentLength));

    public void Clear() => _entries.Clear();
}
