using Portcullis.Defaults.Logging;

namespace Portcullis.UnitTests.Defaults;

public class CredentialRedactionTests
{
    private const string Jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXBhcnQ";

    [Theory]
    [InlineData("access_token")]
    [InlineData("token")]
    [InlineData("id_token")]
    [InlineData("refresh_token")]
    [InlineData("code")]
    [InlineData("password")]
    [InlineData("pwd")]
    [InlineData("secret")]
    [InlineData("client_secret")]
    [InlineData("api_key")]
    [InlineData("apikey")]
    [InlineData("x-api-key")]
    [InlineData("key")]
    [InlineData("signature")]
    [InlineData("X-Amz-Signature")]
    [InlineData("sig")]
    [InlineData("session")]
    [InlineData("Access_Token")]
    [InlineData("access%5Ftoken")]
    public void Redacts_credential_parameters_of_a_request_line(string name)
    {
        var line = $"Request starting HTTP/1.1 GET http://127.0.0.1:5000/sessions?page=2&{name}=s3cr3t-value&limit=5 - - -";
        var redacted = CredentialRedaction.Redact(line);
        Assert.DoesNotContain("s3cr3t-value", redacted);
        Assert.Contains("page=2", redacted);
        Assert.Contains("limit=5", redacted);
    }

    [Fact]
    public void Keeps_parameters_that_are_not_credentials()
    {
        const string line = "GET /sessions?subject=agent-1&connection=warehouse&outcome=denied&from=2026-01-01";
        Assert.Equal(line, CredentialRedaction.Redact(line));
    }

    [Theory]
    [InlineData("Request starting GET http://gateway/http/demo/" + Jwt + "/x")]
    [InlineData("Authorization: Bearer " + Jwt)]
    [InlineData("token in a message: " + Jwt + ".")]
    [InlineData("percent-encoded: eyJhbGciOiJSUzI1NiJ9%2EeyJzdWIiOiJhIn0%2Esig")]
    public void Redacts_anything_shaped_like_a_jwt_wherever_it_is(string line)
    {
        var redacted = CredentialRedaction.Redact(line);
        Assert.DoesNotContain("eyJzdWIi", redacted);
        Assert.Contains(CredentialRedaction.Redacted, redacted);
    }

    [Theory]
    [InlineData("Host=db;Port=5432;Username=portcullis;Password=hunter2-long;Database=x", "hunter2-long")]
    [InlineData("extracted: { \"client_id\": \"agent\", \"client_secret\": \"hunter2-long\" }", "hunter2-long")]
    [InlineData("\"password\":\"hunter2-long\"", "hunter2-long")]
    [InlineData("Authorization: Basic aHVudGVyMi1sb25n", "aHVudGVyMi1sb25n")]
    public void Redacts_credentials_in_connection_strings_json_and_headers(string line, string secret)
    {
        var redacted = CredentialRedaction.Redact(line);
        Assert.DoesNotContain(secret, redacted);
    }
}
