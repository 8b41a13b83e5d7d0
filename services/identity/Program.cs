using Portcullis.Identity;

var builder = WebApplication.CreateBuilder(args);
builder.AddDevelopmentOpenIdProvider();
builder.Services.AddProblemDetails();

var app = builder.Build();
app.UseExceptionHandler(); // never the developer page: it would echo request headers
app.UseDevelopmentOpenIdProvider();
app.Run();
