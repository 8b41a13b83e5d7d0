using Portcullis.Defaults;
using Portcullis.Policy;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Apis;

// `catalog generate [folder]`: regenerate the function catalogue from a PostgreSQL server (ConnectionStrings__Postgres).
if (args is ["catalog", "generate", .. var rest])
    return await PgCatalogueGenerator.RunAsync(rest);
// `test --file portcullis.yaml`: the file's policy tests; `simulate --file ... --from ... --to ...`: a simulation by the service.
if (args is ["test", ..]) return PolicyCommands.Test(args);
if (args is ["simulate", ..]) return await PolicyCommands.SimulateAsync(args);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapEvaluateApi();
app.MapPolicyApi();
app.MapMcpToolsApi();
app.MapSimulateApi();
app.Run();
return 0;
