using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.IdentityModel.Tokens;

namespace Portcullis.Gateway.Sessions;

/// <summary>
/// A session is one agent run: the X-Session-Id header, else the token's "sid", else one per token. The
/// session id keys the audit stream, so it is checked, never taken as free text; the prefixes of the services' own
/// streams are reserved. Who owns a session is the <see cref="SessionLedger"/>'s business.
/// </summary>
public sealed partial class SessionResolver
{
    public const string SessionHeader = "X-Session-Id";

    /// <summary>
    /// Streams the services write themselves (policy changes in <c>admin:</c>, the audit's own records in <c>audit:</c>)
    /// and prefixes kept for them; compared without case, so <c>ADMIN:</c> is refused too.
    /// </summary>
    public static readonly IReadOnlyList<string> ReservedPrefixes =
        ["admin:", "audit:", "portcullis:", "gateway:", "policy:", "approval:", "masking:", "identity:"];

    public SessionResult Resolve(HttpContext context)
    {
        if (context.Request.Headers.TryGetValue(SessionHeader, out var header))
        {
            var value = header.ToString();
            if (!ValidId().IsMatch(value))
                return SessionResult.Invalid($"{SessionHeader} must be 1 to 128 characters of letters, digits, '.', '_', ':' or '-'.");
            return Reserved(value) is { } prefix
                ? SessionResult.Invalid($"Session ids beginning with '{prefix}' are reserved for Portcullis's own records; choose another {SessionHeader}.")
                : SessionResult.Ok(value);
        }
        if (context.User.FindFirst("sid")?.Value is { } sid && ValidId().IsMatch(sid) && Reserved(sid) is null)
            return SessionResult.Ok(sid);

        var token = context.Request.Headers.Authorization.ToString();
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return SessionResult.Ok("token-" + Base64UrlEncoder.Encode(hash)[..22]);
    }

    private static string? Reserved(string sessionId) =>
        ReservedPrefixes.FirstOrDefault(prefix => sessionId.StartsWith(prefix, StringComparison.OrdinalIgnoreCase));

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex ValidId();
}

public readonly record struct SessionResult(string? SessionId, string? Error)
{
    public static SessionResult Ok(string id) => new(id, null);
    public static SessionResult Invalid(string error) => new(null, error);
}
