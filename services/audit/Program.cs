using Portcullis.Audit;
using Portcullis.Audit.Apis;
using Portcullis.Defaults;

// verify, rebuild, archive, export (and --help): the command line, straight against the store (AuditCommands).
if (AuditCommands.IsCommand(args)) return await AuditCommands.InvokeAsync(args);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapSessionsApi();
app.MapReplayApi();
app.MapSearchApi();
app.Run();
return 0;
