using Portcullis.Audit;
using Portcullis.Audit.Apis;
using Portcullis.Defaults;
using Portcullis.Defaults.Health;

// "verify <session>": the command-line form of GET /sessions/{id}/verify, straight against the store.
if (args is ["verify", var sessionId, ..]) return await AuditCommands.VerifyAsync(sessionId, args);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseServiceDefaults();
app.UseAuthentication();
app.UseAuthorization();
app.MapPortcullisHealth();
app.MapSessionsApi();
app.MapReplayApi();
app.Run();
return 0;
