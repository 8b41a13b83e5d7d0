using Portcullis.Audit;
using Portcullis.Audit.Apis;
using Portcullis.Defaults;

// "verify <session>": the command-line form of GET /sessions/{id}/verify, straight against the store.
if (args is ["verify", var sessionId, ..]) return await AuditCommands.VerifyAsync(sessionId, args);
// "rebuild": replays every event into the projections.
if (args is ["rebuild", ..]) return await AuditCommands.RebuildAsync(args);
// "archive [--before <time>] [--session <id>]": retention now, or one session's removal on request.
if (args is ["archive", ..]) return await AuditCommands.ArchiveAsync(args);

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
