using Portcullis.Defaults;
using Portcullis.Defaults.Health;
using Portcullis.Masking;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseServiceDefaults();
app.MapPortcullisHealth();
app.Run();
