using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Portcullis.Defaults.Auth;

namespace Portcullis.UnitTests.Defaults;

/// <summary>A token is checked only against the published key its kid names; the handler never tries the others.</summary>
public class SigningKeyTests
{
    private static readonly RSA Rsa = RSA.Create(2048);

    private static string Mint(string? kid) => new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
    {
        Issuer = "https://issuer",
        Audience = "portcullis",
        Subject = new ClaimsIdentity([new Claim("sub", "agent")]),
        Expires = DateTime.UtcNow.AddMinutes(5),
        SigningCredentials = new SigningCredentials(new RsaSecurityKey(Rsa) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
    });

    private static async Task<bool> Valid(string token, string? publishedKid)
    {
        var parameters = new TokenValidationParameters
        {
            ValidIssuer = "https://issuer",
            ValidAudience = "portcullis",
            IssuerSigningKeys = [new RsaSecurityKey(Rsa.ExportParameters(false)) { KeyId = publishedKid }],
            TryAllIssuerSigningKeys = false,
            IssuerSigningKeyResolverUsingConfiguration = AuthenticationExtensions.SigningKeysNamedBy,
        };
        return (await new JsonWebTokenHandler().ValidateTokenAsync(token, parameters)).IsValid;
    }

    [Fact]
    public async Task Accepts_the_key_the_kid_names() => Assert.True(await Valid(Mint("key-1"), "key-1"));

    [Theory]
    [InlineData("key-2")]
    [InlineData("KEY-1")]
    [InlineData("key-1 ")]
    [InlineData(null)]
    public async Task Refuses_a_kid_the_issuer_does_not_publish_even_with_the_right_signature(string? kid) =>
        Assert.False(await Valid(Mint(kid), "key-1"));

    [Fact]
    public async Task A_token_without_kid_matches_only_a_key_published_without_one() =>
        Assert.True(await Valid(Mint(null), null));
}
