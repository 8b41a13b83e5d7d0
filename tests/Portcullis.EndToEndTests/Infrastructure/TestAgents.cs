using System.Net.Http.Json;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>
/// Tokens the stack's OpenID provider could have issued (its signing key, its published key id), for identities it
/// has no client for: any subject, any groups.
/// </summary>
public static class MintedTokens
{
    public static async Task<string> MintAsync(this PortcullisStack stack, string subject, params string[] groups)
    {
        using var http = new HttpClient { BaseAddress = stack.Issuer };
        var discovery = await http.GetFromJsonAsync<JsonElement>(".well-known/openid-configuration");
        var keys = await http.GetFromJsonAsync<JsonElement>(discovery.GetProperty("jwks_uri").GetString());
        var keyId = keys.GetProperty("keys")[0].TryGetProperty("kid", out var kid) ? kid.GetString() : null;
        var now = DateTime.UtcNow;
        var claims = new List<Claim> { new("sub", subject) };
        claims.AddRange(groups.Select(group => new Claim("groups", group)));
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = stack.Issuer.ToString(),
            Audience = "portcullis",
            Subject = new ClaimsIdentity(claims),
            NotBefore = now.AddMinutes(-1),
            IssuedAt = now.AddMinutes(-1),
            Expires = now.AddMinutes(10),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(stack.SigningKey) { KeyId = keyId }, SecurityAlgorithms.RsaSha256),
        });
    }
}

/// <summary>Requests that a cold stack may answer 503 ("retry later"), as an agent would retry them.</summary>
public static class Retries
{
    /// <summary>
    /// Sends again while the answer is 503: the first approval of a fresh stack can outlast the tests' short decision
    /// deadline while the services warm up. Nothing runs on a 503, so a retry is what an agent does.
    /// </summary>
    public static async Task<HttpResponseMessage> RetryUnavailable(Func<Task<HttpResponseMessage>> send, int attempts = 4)
    {
        for (var attempt = 1; ; attempt++)
        {
            var response = await send();
            if (response.StatusCode != System.Net.HttpStatusCode.ServiceUnavailable || attempt == attempts) return response;
            response.Dispose();
            await Task.Delay(1000);
        }
    }
}
