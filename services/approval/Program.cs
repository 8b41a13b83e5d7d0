using Portcullis.Approval;
using Portcullis.Defaults;
using Portcullis.Defaults.Health;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapPortcullisHealth();
app.Run();
