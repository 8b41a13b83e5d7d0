using Portcullis.Audit;
using Portcullis.Audit.Apis;
using Portcullis.Defaults;
using Portcullis.Defaults.Health;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseAuthentication();
app.UseAuthorization();
app.MapPortcullisHealth();
app.MapSessionsApi();
app.Run();
