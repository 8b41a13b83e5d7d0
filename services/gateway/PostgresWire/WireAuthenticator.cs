using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// The password of a wire connection is the agent's OIDC access token, validated by the gateway's own JWT bearer
/// handler (the one HTTP requests meet: issuer, audience, lifetime, signing key), so there is one definition of a
/// valid token. A refusal says how to get a token, never why in more detail than HTTP's 401 does.
/// </summary>
public sealed class WireAuthenticator(IServiceScopeFactory scopes, IConfiguration configuration)
{
    /// <summary>Larger than any real access token; a longer password is refused without being parsed.</summary>
    private const int MaxTokenLength = 16 * 1024;

    public async Task<(ClaimsPrincipal? User, string? Refusal)> AuthenticateAsync(string token)
    {
        if (token.Length == 0 || token.Length > MaxTokenLength || token.Any(char.IsWhiteSpace))
            return (null, Refusal("The password is not an access token."));
        await using var scope = scopes.CreateAsyncScope();
        var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        context.Request.Headers.Authorization = "Bearer " + token;
        var result = await context.AuthenticateAsync(JwtBearerDefaults.AuthenticationScheme);
        if (result.Succeeded && result.Principal?.FindFirst("sub") is not null) return (result.Principal, null);
        return (null, Refusal(result.Failure switch
        {
            SecurityTokenExpiredException => "The access token has expired.",
            SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException =>
                "The access token is not signed by the configured OpenID provider.",
            null when result.Succeeded => "The access token has no subject.",
            _ => "The access token is not valid for this gateway (issuer, audience or lifetime).",
        }));
    }

    private string Refusal(string why) =>
        $"password authentication failed: {why} The password is an OIDC access token from {configuration["Auth:Authority"]} " +
        $"(client credentials grant, audience '{configuration["Auth:Audience"] ?? "portcullis"}').";
}
