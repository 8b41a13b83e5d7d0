using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Portcullis.Defaults.OpenApi;

/// <summary>
/// Every service's OpenAPI document (<c>GET /openapi/v1.json</c>, built by ASP.NET Core from the endpoints' own
/// metadata) and, in Development only, its Scalar reference page (<c>/scalar</c>). The document is generated on
/// the first request for it, never at start-up nor on any other request. What every endpoint shares is added here
/// rather than repeated on each: the bearer token scheme (OIDC JWTs), and on every endpoint behind it the 401 (and,
/// where a group is required, 403) problem answers that <see cref="Problems.ProblemAnswers"/> and the token
/// handler really give; on endpoints that read a body or query, the 400 problem answer for input that cannot bind.
/// </summary>
public static class OpenApiDefaults
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/" + DocumentName + ".json";
    public const string ReferencePath = "/scalar";
    /// <summary>The security scheme's name in the document's components.</summary>
    public const string BearerScheme = "bearer";
    public const string ProblemMediaType = "application/problem+json";
    private const string ProblemSchema = "ProblemDetails";

    public static IHostApplicationBuilder AddPortcullisOpenApi(this IHostApplicationBuilder builder)
    {
        var title = builder.Environment.ApplicationName;
        builder.Services.AddOpenApi(DocumentName, options =>
        {
            options.AddDocumentTransformer((document, context, cancellationToken) =>
            {
                document.Info.Title = title;
                document.Info.Version = DocumentName;
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "An OpenID Connect access token from the issuer in Auth:Authority, for the audience in Auth:Audience " +
                                  "(default portcullis); groups in the 'groups' claim.",
                };
                return Task.CompletedTask;
            });
            options.AddOperationTransformer(DescribeSharedAnswers);
        });
        return builder;
    }

    /// <summary>
    /// The document for anyone (it describes the API, nothing behind it), generated once on the first request and then
    /// served as bytes: ASP.NET Core's own <c>MapOpenApi</c> rebuilds it on every request (tens of milliseconds of CPU),
    /// which an anonymous caller could repeat at will, and writes the request's Host into its servers. The reference
    /// page in Development only.
    /// </summary>
    public static WebApplication MapPortcullisOpenApi(this WebApplication app)
    {
        var document = new CachedOpenApiDocument(app.Services);
        app.MapGet(DocumentPath, async (CancellationToken cancellationToken) =>
                TypedResults.Bytes(await document.GetAsync(cancellationToken), "application/json;charset=utf-8"))
            .ExcludeFromDescription().AllowAnonymous();
        if (app.Environment.IsDevelopment()) MapReferencePage(app);
        return app;
    }

    // Its own method, so the Scalar assembly is not even loaded outside Development.
    private static void MapReferencePage(WebApplication app) =>
        app.MapScalarApiReference(ReferencePath, options => options
                .WithTitle(app.Environment.ApplicationName)
                .AddPreferredSecuritySchemes(BearerScheme))
            .AllowAnonymous();

    /// <summary>The service's document, made once (its endpoints do not change after start-up); a failed attempt is not kept.</summary>
    private sealed class CachedOpenApiDocument(IServiceProvider services)
    {
        private readonly SemaphoreSlim _making = new(1, 1);
        private byte[]? _json;

        public async Task<byte[]> GetAsync(CancellationToken cancellationToken)
        {
            if (Volatile.Read(ref _json) is { } made) return made;
            await _making.WaitAsync(cancellationToken);
            try
            {
                if (_json is not null) return _json;
                var document = await services.GetRequiredKeyedService<IOpenApiDocumentProvider>(DocumentName)
                    .GetOpenApiDocumentAsync(cancellationToken);
                using var json = new MemoryStream();
                await document.SerializeAsJsonAsync(json, OpenApiSpecVersion.OpenApi3_1, cancellationToken);
                var bytes = json.ToArray();
                Volatile.Write(ref _json, bytes);
                return bytes;
            }
            finally
            {
                _making.Release();
            }
        }
    }

    private static async Task DescribeSharedAnswers(OpenApiOperation operation, OpenApiOperationTransformerContext context,
        CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        operation.Responses ??= new OpenApiResponses();
        if (operation.RequestBody is not null || operation.Parameters?.Any(p => p.In is ParameterLocation.Query) == true)
            await AddProblem(operation, context, "400", "The body or a parameter cannot be read for this endpoint " +
                                                        "(not valid JSON, a wrong type, a value out of range).", cancellationToken);
        if (metadata.OfType<IAllowAnonymous>().Any() || !RequiresAuthorization(metadata)) return;

        operation.Security ??= [];
        operation.Security.Add(BearerRequirement(context.Document!));
        await AddProblem(operation, context, "401", "No valid bearer token.", cancellationToken);
        if (RequiresGroup(metadata))
            await AddProblem(operation, context, "403", "The token is valid but not in a group this endpoint requires.", cancellationToken);
    }

    /// <summary>Behind authorization with bearer tokens: the default scheme, or one the policy names (not the approver console's cookie).</summary>
    private static bool RequiresAuthorization(IList<object> metadata) =>
        metadata.OfType<IAuthorizeData>().Any(a => TakesBearer(a.AuthenticationSchemes?.Split(',')))
        || metadata.OfType<AuthorizationPolicy>().Any(p => TakesBearer(p.AuthenticationSchemes));

    private static bool TakesBearer(IEnumerable<string>? schemes) =>
        schemes?.Any() != true || schemes.Any(s => s.Trim() == JwtBearerDefaults.AuthenticationScheme);

    /// <summary>A named policy, roles, or a policy asking more than an authenticated user: the services' group policies.</summary>
    private static bool RequiresGroup(IList<object> metadata) =>
        metadata.OfType<IAuthorizeData>().Any(a => a.Policy is not null || a.Roles is not null)
        || metadata.OfType<AuthorizationPolicy>().Any(p => p.Requirements.Any(r => r is not DenyAnonymousAuthorizationRequirement));

    /// <summary>A problem answer for <paramref name="status"/>, unless the endpoint already declares one.</summary>
    private static async Task AddProblem(OpenApiOperation operation, OpenApiOperationTransformerContext context, string status,
        string description, CancellationToken cancellationToken)
    {
        if (operation.Responses!.ContainsKey(status)) return;
        operation.Responses[status] = await ProblemResponseAsync(context.Document!,
            () => context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken), description);
    }

    /// <summary>A response of problem details (<c>application/problem+json</c>), for operations a service describes itself.</summary>
    public static async Task<OpenApiResponse> ProblemResponseAsync(OpenApiDocument document, Func<Task<OpenApiSchema>> problemSchema,
        string description)
    {
        if (document.Components?.Schemas?.ContainsKey(ProblemSchema) != true)
            document.AddComponent(ProblemSchema, await problemSchema());
        return new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                [ProblemMediaType] = new() { Schema = new OpenApiSchemaReference(ProblemSchema, document) },
            },
        };
    }

    /// <summary>The bearer token requirement, for operations a service describes itself.</summary>
    public static OpenApiSecurityRequirement BearerRequirement(OpenApiDocument document) =>
        new() { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] };
}
