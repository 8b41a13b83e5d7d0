namespace Portcullis.Identity;

/// <summary>The development provider's settings (section "Identity").</summary>
public sealed class IdentityOptions
{
    /// <summary>Issuer URL written into tokens and discovery, e.g. http://127.0.0.1:5100/.</summary>
    public string Issuer { get; set; } = "";

    /// <summary>PEM file with the RSA signing key; created on first start when missing.</summary>
    public string SigningKeyPath { get; set; } = "signing-key.pem";

    /// <summary>Audience (resource) put into every access token.</summary>
    public string Audience { get; set; } = "portcullis";

    public int AccessTokenLifetimeSeconds { get; set; } = 3600;

    /// <summary>Clients by client id: agents (client credentials) and web apps (authorization code, with redirect URIs).</summary>
    public Dictionary<string, ClientOptions> Clients { get; set; } = new(StringComparer.Ordinal);

    /// <summary>People who sign in to web apps (the approver console), by user name.</summary>
    public Dictionary<string, UserOptions> Users { get; set; } = new(StringComparer.Ordinal);
}

public sealed class UserOptions
{
    public string Password { get; set; } = "";

    /// <summary>Comma-separated groups.</summary>
    public string Groups { get; set; } = "";

    public IReadOnlyList<string> GroupList =>
        Groups.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

public sealed class ClientOptions
{
    public string Secret { get; set; } = "";

    /// <summary>Comma-separated groups, so one environment variable can carry them.</summary>
    public string Groups { get; set; } = "";

    /// <summary>Comma-separated redirect URIs; a client with any may use the authorization code flow.</summary>
    public string RedirectUris { get; set; } = "";

    public IReadOnlyList<string> RedirectUriList =>
        RedirectUris.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Subject of the tokens; the client id when unset.</summary>
    public string? Subject { get; set; }

    public IReadOnlyList<string> GroupList =>
        Groups.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
