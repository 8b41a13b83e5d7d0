using Portcullis.Defaults;
using Portcullis.Defaults.Health;
using Portcullis.Policy;
using Portcullis.Policy.Apis;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseServiceDefaults();
app.UseAuthentication();
app.UseAuthorization();
app.MapPortcullisHealth();
app.MapEvaluateApi();
app.MapPolicyApi();
app.Run();
