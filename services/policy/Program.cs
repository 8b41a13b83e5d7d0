using Portcullis.Defaults;
using Portcullis.Policy;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Apis;

// `catalog generate [folder]`: regenerate the function catalogue from a PostgreSQL server (ConnectionStrings__Postgres).
if (args is ["catalog", "generate", .. var rest])
    return await PgCatalogueGenerator.RunAsync(rest);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapEvaluateApi();
app.MapPolicyApi();
app.MapSimulateApi();
app.Run();
return 0;
