using Portcullis.Approval;
using Portcullis.Approval.Apis;
using Portcullis.Approval.Console;
using Portcullis.Defaults;
using Portcullis.Defaults.Health;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseServiceDefaults();
app.UseAuthentication();
app.UseAuthorization();
app.UseAntiforgery();
app.MapPortcullisHealth();
app.MapApprovalsApi();
app.MapApprovalConsole();
app.MapGet("/", () => Results.Redirect("/console/"));
app.Run();
