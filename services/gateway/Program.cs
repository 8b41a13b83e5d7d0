using Portcullis.Defaults;
using Portcullis.Defaults.Health;
using Portcullis.Gateway;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseServiceDefaults();
app.UseAuthentication();
app.UseAuthorization();
app.MapPortcullisHealth();
app.MapAgentEndpoints();
app.Run();
