using Portcullis.Demo;

// A small internal API for the demo and the tests: customer records with emails, and an admin area that
// policy keeps agents out of. It logs every request it gets, so tests can see what reached it.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton<RequestLog>();

var app = builder.Build();
app.Use(async (context, next) =>
{
    if (!context.Request.Path.StartsWithSegments("/__requests"))
        context.RequestServices.GetRequiredService<RequestLog>().Add(context.Request);
    await next();
});
// With DEMO_API_KEY set, the API wants it in X-Api-Key, as internal APIs do: only the gateway holds it.
var apiKey = Environment.GetEnvironmentVariable("DEMO_API_KEY");
app.Use(async (context, next) =>
{
    var open = context.Request.Path.StartsWithSegments("/__requests") || context.Request.Path.StartsWithSegments("/__notifications")
               || context.Request.Path.StartsWithSegments("/health");
    if (!open && !string.IsNullOrEmpty(apiKey) && context.Request.Headers["X-Api-Key"] != apiKey)
    {
        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
        return;
    }
    await next();
});
app.MapDemoApi();
app.MapDisguisedApi();
app.MapHostileApi();
app.Run();
