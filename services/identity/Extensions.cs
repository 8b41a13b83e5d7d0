using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server;
using OpenIddict.Server.AspNetCore;
using Microsoft.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;
using static OpenIddict.Server.OpenIddictServerEvents;

namespace Portcullis.Identity;

public static class Extensions
{
    /// <summary>
    /// An OpenID provider for local stacks and tests: client credentials for agents, authorization code with
    /// PKCE and a sign-in form for people (the approver console), clients and users from configuration, tokens
    /// carrying a "groups" claim. It refuses to start in Production.
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
            server.SetAuthorizationEndpointUris("connect/authorize");
            server.AllowClientCredentialsFlow();
            server.AllowAuthorizationCodeFlow().RequireProofKeyForCodeExchange();
            server.RegisterScopes(Scopes.OpenId, Scopes.Profile);
            server.SetAccessTokenLifetime(TimeSpan.FromSeconds(options.AccessTokenLifetimeSeconds));
            // No database: clients come from configuration and are checked by the handler below.
            server.EnableDegradedMode();
            server.AddSigningKey(signingKey);
            server.AddEphemeralEncryptionKey();
            server.DisableAccessTokenEncryption(); // relying parties read plain signed JWTs
            server.UseAspNetCore().DisableTransportSecurityRequirement().EnableAuthorizationEndpointPassthrough();

            server.AddEventHandler<ValidateAuthorizationRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                if (context.ClientId is null || !options.Clients.TryGetValue(context.ClientId, out var client)
                    || client.RedirectUriList.Count == 0)
                    context.Reject(Errors.InvalidClient, "The client is unknown or may not sign people in.");
                else if (context.RedirectUri is null || !client.RedirectUriList.Contains(context.RedirectUri, StringComparer.Ordinal))
                    context.Reject(Errors.InvalidRequest, "The redirect_uri is not registered for this client.");
                return default;
            }));

            server.AddEventHandler<ValidateTokenRequestContext>(handler => handler.UseInlineHandler(context =>
            {
                if (!context.Request.IsClientCredentialsGrantType() && !context.Request.IsAuthorizationCodeGrantType())
                {
                    context.Reject(Errors.UnsupportedGrantType, "Only the client credentials and authorization code grants are supported.");
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
                if (context.Request.IsAuthorizationCodeGrantType())
                {
                    // The person signed in at the authorization endpoint; the code carries who they are.
                    context.SignIn(context.AuthorizationCodePrincipal!);
                    return default;
                }
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
        app.MapMethods("/connect/authorize", ["GET", "POST"], SignInPerson);
        return app;
    }

    /// <summary>
    /// The authorization endpoint: a sign-in form; on a valid user name and password, the code goes back to
    /// the client with the person's subject, name and groups.
    /// </summary>
    private static IResult SignInPerson(HttpContext context, IOptions<IdentityOptions> options)
    {
        var request = context.GetOpenIddictServerRequest()
                      ?? throw new InvalidOperationException("Not an OpenID Connect authorization request.");
        var userName = request["username"]?.ToString();
        var password = request["password"]?.ToString();
        string? error = null;
        if (userName is not null)
        {
            if (options.Value.Users.TryGetValue(userName, out var user) && SecretsEqual(user.Password, password))
            {
                var identity = new ClaimsIdentity(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme, Claims.Name, "groups");
                identity.SetClaim(Claims.Subject, userName);
                identity.SetClaim(Claims.Name, userName);
                identity.SetClaims("groups", [.. user.GroupList]);
                identity.SetScopes(request.GetScopes());
                identity.SetResources(options.Value.Audience);
                identity.SetDestinations(_ => [Destinations.AccessToken, Destinations.IdentityToken]);
                return Results.SignIn(new ClaimsPrincipal(identity), authenticationScheme: OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            }
            error = "The user name or password is not right.";
        }
        var hidden = new StringBuilder();
        foreach (var (name, value) in request.GetParameters())
        {
            if (name is "username" or "password") continue;
            hidden.Append($"<input type=\"hidden\" name=\"{Html(name)}\" value=\"{Html(value.ToString() ?? "")}\">");
        }
        var page = $"""
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
            <body style="font-family:system-ui,sans-serif;margin:3rem">
            <h1>Sign in to Portcullis</h1><p>Development OpenID provider: never for production.</p>
            {(error is null ? "" : $"<p role=\"alert\">{Html(error)}</p>")}
            <form method="post" action="/connect/authorize">{hidden}
            <p><label>User name <input name="username" autocomplete="username" required></label></p>
            <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
            <p><button type="submit">Sign in</button></p></form></body></html>
            """;
        return Results.Content(page, "text/html; charset=utf-8", statusCode: error is null ? 200 : 401);
    }

    private static string Html(string text) => System.Text.Encodings.Web.HtmlEncoder.Default.Encode(text);

    private static bool SecretsEqual(string expected, string? given) =>
        expected.Length > 0 && given is not null &&
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), Encoding.UTF8.GetBytes(given));
}
