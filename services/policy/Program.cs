using Portcullis.Defaults;
using Portcullis.Defaults.Health;
using Portcullis.Policy;
using Portcullis.Policy.Analysis.Sql.Catalogue;
using Portcullis.Policy.Apis;

// `catalog generate [folder]`: regenerate the function catalogue from a PostgreSQL server (ConnectionStrings__Postgres).
if (args is ["catalog", "generate", .. var rest])
    return await PgCatalogueGenerator.RunAsync(rest);

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddApplicationServices();

var app = builder.Build();
app.UseServiceDefaults();
app.UseAuthentication();
app.UseAuthorization();
app.MapPortcullisHealth();
app.MapEvaluateApi();
app.MapPolicyApi();
app.MapMcpToolsApi();
app.Run();
return 0;
