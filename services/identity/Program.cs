using Portcullis.Identity;

var builder = WebApplication.CreateBuilder(args);
builder.AddDevelopmentOpenIdProvider();

var app = builder.Build();
app.UseDevelopmentOpenIdProvider();
app.Run();
