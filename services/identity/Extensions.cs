using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Portcullis.Identity;

public static class Extensions
{
    /// <summary>
    /// An OpenID provider for local stacks and tests: client credentials only, clients from
    /// configuration, tokens carrying a "groups" claim. It refuses to start in Production.
    /// </summary>
    public static WebApplicationBuilder AddDevelopmentOpenIdProvider(this WebApplicationBuilder builder)
    {
        if (builder.Environment.IsProduction())
            throw new InvalidOperationException(
                "The Portcullis development OpenID provider never runs in Production: use your organisation's " +
                "OpenID provider (Keycloak, Entra ID, Okta, ...) and point the gateway's Auth:Authority at it. " +
                "For a local stack set DOTNET_ENVIRONMENT=Development.");

        // Clients and their secrets live in a JSON file (mode 600), not in the environment or arguments.
        if (builder.Configuration["Identity:ConfigFile"] is { Length: > 0 } file)
            builder.Configuration.AddJsonFile(Path.GetFullPath(file), optional: false, reloadOnChange: false);
        var options = builder.Configuration.GetSection("Identity").Get<IdentityOptions>() ?? new IdentityOptions();
        if (!Uri.TryCreate(options.Issuer, UriKind.Absolute, out var issuer))
            throw new InvalidOperationException("Identity:Issuer must be set to this provider's absolute URL.");
        builder.Services.AddSingleton(Options.Create(options));

        using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole());
        var signingKey = SigningKey.LoadOrCreate(options.SigningKeyPath, loggerFactory.CreateLogger("Identity"));

        builder.Services.AddOpenIddict().AddServer(server =>
        {
            server.SetIssuer(issuer);
            server.SetTokenEndpointUris("connect/token");
            server.AllowClientCredentialsFlow();
            server.SetAccessTokenLifetime(TimeSpan.FromSeconds(options.AccessTokenLifetimeSeconds));
            // No database: clients come from configuration and are checked by the handler below.
            server.EnableDegradedMode();
            server.AddSigningKey(signingKey);
            server.AddEphemeralEncryptionKey();
            server.DisableAccessTokenEncryption(); // relying parties read plain signed JWTs
            server.UseAspNetCore().DisableTransportSecurityRequirement();

            server.AddEventHandler<ValidateTokenRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                if (!context.Request.IsClientCredentialsGrantType())
                {
                    context.Reject(Errors.UnsupportedGrantType, "Only the client credentials grant is supported.");
                }
                else if (context.ClientId is null || !options.Clients.TryGetValue(context.ClientId, out var client)
                         || !SecretsEqual(client.Secret, context.ClientSecret))
                {
                    context.Reject(Errors.InvalidClient, "The client id or secret is not valid.");
                }
                return default;
            }));

            server.AddEventHandler<HandleTokenRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                var client = options.Clients[context.ClientId!];
                var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, "groups");
                identity.SetClaim(Claims.Subject, client.Subject ?? context.ClientId);
                identity.SetClaim(Claims.ClientId, context.ClientId);
                identity.SetClaim(Claims.Name, client.Subject ?? context.ClientId);
                identity.SetClaims("groups", [.. client.GroupList]);
                identity.SetResources(options.Audience);
                identity.SetScopes(context.Request.GetScopes());
                identity.SetDestinations(_ => [Destinations.AccessToken]);
                context.SignIn(new ClaimsPrincipal(identity));
                return default;
            }));
        });
        return builder;
    }

    public static WebApplication UseDevelopmentOpenIdProvider(this WebApplication app)
    {
        app.MapGet("/health/live", () => Results.Ok(new { status = "Healthy" }));
        app.MapGet("/health/ready", () => Results.Ok(new { status = "Healthy" }));
        return app;
    }

    private static bool SecretsEqual(string expected, string? given) =>
        expected.Length > 0 && given is not null &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(given));
}
