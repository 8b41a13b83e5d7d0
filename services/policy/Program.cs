using Portcullis.Defaults;
using Portcullis.Policy;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Apis;

// `catalog generate [folder]`: regenerate the function catalogue from a PostgreSQL server (ConnectionStrings__Postgres).
if (args is ["catalog", "generate", .. var rest])
    return await PgCatalogueGenerator.RunAsync(rest);
// validate, test, evaluate (against a policy file), simulate (by a running service), and --help: the command line (PolicyCommands).
if (PolicyCommands.IsCommand(args)) return await PolicyCommands.InvokeAsync(args);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapEvaluateApi();
app.MapPolicyApi();
app.MapMcpToolsApi();
app.MapSimulateApi();
app.MapBudgetsApi();
app.Run();
return 0;
