using Portcullis.Defaults;
using Portcullis.Identity;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults(); // problem answers (never the developer page, which would echo headers), redacted logs
builder.AddDevelopmentOpenIdProvider();

var app = builder.Build();
app.UseServiceDefaults();
app.UseAuthentication(); // OpenIddict reads requests here: after the problem answers, so what it throws is answered too
app.UseDevelopmentOpenIdProvider();
app.Run();
