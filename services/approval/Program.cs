using Portcullis.Approval;
using Portcullis.Approval.Apis;
using Portcullis.Approval.Console;
using Portcullis.Defaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.UseAntiforgery();
app.MapApprovalsApi();
app.MapApprovalConsole();
app.MapGet("/", () => Results.Redirect("/console/")).ExcludeFromDescription();
app.Run();
