using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>Only tokens of the configured OpenID provider, still valid, reach anything behind the gateway.</summary>
[Collection(StackCollection.Name)]
public sealed class AuthenticationTests(PortcullisStack stack)
{
    /// <summary>
    /// A token like the provider's, signed by <paramref name="key"/> and naming the provider's key id (a token
    /// naming no published key is refused whatever its signature), valid from/until the given offsets.
    /// </summary>
    private string Mint(RSA key, TimeSpan notBefore, TimeSpan expires)
    {
        var now = DateTime.UtcNow;
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = stack.Issuer.ToString(),
            Audience = "portcullis",
            Subject = new ClaimsIdentity([new Claim("sub", "minted-agent"), new Claim("groups", "agents")]),
            NotBefore = now + notBefore,
            IssuedAt = now + notBefore,
            Expires = now + expires,
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(key) { KeyId = stack.SigningKeyId }, SecurityAlgorithms.RsaSha256),
        });
    }

    private async Task<HttpResponseMessage> Send(string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http/demo/customers/3");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await stack.Gateway.SendAsync(request);
    }

    [Fact]
    public async Task A_token_signed_with_the_providers_key_is_accepted()
    {
        // The control for the tests below: minting itself yields good tokens, so their 401s come from what they change.
        using var response = await Send(Mint(stack.SigningKey, TimeSpan.FromMinutes(-1), TimeSpan.FromMinutes(10)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_request_without_a_token_gets_401_problem_details()
    {
        using var response = await Send(null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("bearer token is required", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task An_expired_token_gets_401()
    {
        using var response = await Send(Mint(stack.SigningKey, TimeSpan.FromHours(-2), TimeSpan.FromHours(-1)));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("expired", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_token_signed_by_another_key_gets_401()
    {
        using var otherKey = RSA.Create(2048);
        using var response = await Send(Mint(otherKey, TimeSpan.FromMinutes(-1), TimeSpan.FromMinutes(10)));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task A_malformed_token_gets_401()
    {
        using var response = await Send("not-a-jwt");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_providers_own_token_is_accepted()
    {
        using var response = await Send(await stack.TokenFor(PortcullisStack.AgentClient));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
