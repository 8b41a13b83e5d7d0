using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.IdentityModel.Tokens;
using Portcullis.Contracts;

namespace Portcullis.Defaults.Auth;

public static class AuthenticationExtensions
{
    public const string GroupsClaim = "groups";

    /// <summary>
    /// OIDC bearer tokens from the issuer in <c>Auth:Authority</c>, found by discovery (keys from its JWKS).
    /// The token must be for <c>Auth:Audience</c> (default "portcullis") and not expired beyond
    /// <c>Auth:ClockSkewSeconds</c> (default 30). Plain-http issuers are refused unless
    /// <c>Auth:RequireHttpsMetadata</c> is false, which only the local stack and tests set.
    /// </summary>
    public static IHostApplicationBuilder AddPortcullisAuthentication(this IHostApplicationBuilder builder)
    {
        var auth = builder.Configuration.GetSection("Auth");
        var authority = auth["Authority"] ?? throw new InvalidOperationException(
            "Auth:Authority is not set: set it to the OpenID provider's issuer URL (env Auth__Authority).");
        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer(options =>
        {
            options.Authority = authority;
            options.Audience = auth["Audience"] ?? "portcullis";
            options.RequireHttpsMetadata = auth.GetValue("RequireHttpsMetadata", true);
            options.MapInboundClaims = false;
            options.TokenValidationParameters = new TokenValidationParameters
            {
                ValidateIssuer = true,
                ValidateAudience = true,
                ValidateLifetime = true,
                RequireExpirationTime = true,
                ClockSkew = TimeSpan.FromSeconds(auth.GetValue("ClockSkewSeconds", 30)),
                NameClaimType = "sub",
                RoleClaimType = GroupsClaim,
                // A token is checked against the one key its header names, never against every key in turn.
                TryAllIssuerSigningKeys = false,
                IssuerSigningKeyResolverUsingConfiguration = SigningKeysNamedBy,
            };
            options.Events = new JwtBearerEvents { OnChallenge = WriteChallengeProblem };
        });
        builder.Services.AddAuthorization();
        return builder;
    }

    /// <summary>
    /// The issuer's keys a token may be checked with: the one whose <c>kid</c> the token names (exactly, as
    /// RFC 7515 compares it), and none when the issuer publishes no such key. A token without a <c>kid</c>
    /// matches only keys published without one, so it is refused by any issuer whose keys all carry ids (every
    /// real OpenID provider). Without this, the handler tries every key when the <c>kid</c> matches nothing,
    /// and a token naming a key the issuer never published would be accepted.
    /// </summary>
    public static IEnumerable<SecurityKey> SigningKeysNamedBy(string token, SecurityToken securityToken, string? kid,
        TokenValidationParameters parameters, BaseConfiguration? configuration)
    {
        var published = (configuration?.SigningKeys ?? [])
            .Concat(parameters.IssuerSigningKeys ?? [])
            .Concat(parameters.IssuerSigningKey is { } single ? [single] : []);
        return string.IsNullOrEmpty(kid)
            ? [.. published.Where(key => string.IsNullOrEmpty(key.KeyId))]
            : [.. published.Where(key => string.Equals(key.KeyId, kid, StringComparison.Ordinal))];
    }

    /// <summary>401 as problem details that say what to do, instead of an empty body.</summary>
    private static async Task WriteChallengeProblem(JwtBearerChallengeContext context)
    {
        context.HandleResponse();
        var response = context.Response;
        response.StatusCode = StatusCodes.Status401Unauthorized;
        // RFC 9728: where a client learns which OpenID provider issues tokens for this resource (MCP clients use it).
        var settings = context.HttpContext.RequestServices.GetRequiredService<IConfiguration>();
        var metadata = settings["Auth:ResourceMetadataPath"];
        var parameters = new List<string>();
        if (context.Error is not null) parameters.Add($"error=\"{context.Error}\"");
        if (!string.IsNullOrEmpty(metadata))
            // Never from the request's Host (a forged Host would send the client's token elsewhere): the public URL, else relative.
            parameters.Add($"resource_metadata=\"{settings["Gateway:PublicUrl"]?.TrimEnd('/')}{metadata}\"");
        response.Headers.WWWAuthenticate = parameters.Count == 0 ? "Bearer" : "Bearer " + string.Join(", ", parameters);
        var detail = context.AuthenticateFailure switch
        {
            null => "A bearer token is required: get one from the OpenID provider (client credentials) and send it as 'Authorization: Bearer <token>'.",
            SecurityTokenExpiredException => "The bearer token has expired: get a new one from the OpenID provider.",
            SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException =>
                "The bearer token is not signed by the configured OpenID provider.",
            _ => "The bearer token is not valid for this gateway (issuer, audience or lifetime).",
        };
        await Results.Problem(statusCode: 401, title: "Unauthorized", detail: detail,
            type: "https://portcullis.dev/problems/unauthorized").ExecuteAsync(context.HttpContext);
    }

    /// <summary>The contract principal of an authenticated user: subject, client and groups.</summary>
    public static Principal ToPrincipal(this ClaimsPrincipal user)
    {
        var subject = user.FindFirstValue("sub") ?? throw new InvalidOperationException("The token has no 'sub' claim.");
        var client = user.FindFirstValue("client_id") ?? user.FindFirstValue("azp");
        var groups = user.FindAll(GroupsClaim)
            .Select(claim => claim.Value.TrimStart('/')) // Keycloak's group mapper may give full paths
            .Where(group => group.Length > 0)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToArray();
        return new Principal(subject, client, groups);
    }
}
