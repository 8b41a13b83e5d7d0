using Portcullis.Defaults;
using Portcullis.Identity;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddDevelopmentOpenIdProvider();

var app = builder.Build();
app.MapDefaultEndpoints(); // OpenIddict reads requests in authentication: after the problem answers, so what it throws is answered too
app.UseDevelopmentOpenIdProvider();
app.Run();
