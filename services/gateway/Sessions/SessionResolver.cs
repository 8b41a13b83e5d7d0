using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.IdentityModel.Tokens;

namespace Portcullis.Gateway.Sessions;

/// <summary>
/// A session is one agent run: the X-Session-Id header, else the token's "sid", else one per token. The
/// session id keys the audit stream, so it is checked, never taken as free text.
/// </summary>
public sealed partial class SessionResolver
{
    public const string SessionHeader = "X-Session-Id";

    public SessionResult Resolve(HttpContext context)
    {
        if (context.Request.Headers.TryGetValue(SessionHeader, out var header))
        {
            var value = header.ToString();
            return ValidId().IsMatch(value)
                ? SessionResult.Ok(value)
                : SessionResult.Invalid($"{SessionHeader} must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'.");
        }
        if (context.User.FindFirst("sid")?.Value is { } sid && ValidId().IsMatch(sid))
            return SessionResult.Ok(sid);

        var token = context.Request.Headers.Authorization.ToString();
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return SessionResult.Ok("token-" + Base64UrlEncoder.Encode(hash)[..22]);
    }

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex ValidId();
}

public readonly record struct SessionResult(string? SessionId, string? Error)
{
    public static SessionResult Ok(string id) => new(id, null);
    public static SessionResult Invalid(string error) => new(null, error);
}
