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
app.MapDemoApi();
app.Run();
