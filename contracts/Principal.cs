namespace Portcullis.Contracts;

/// <summary>Who is acting: the token's subject, its client and its groups.</summary>
public sealed record Principal(string Subject, string? ClientId, IReadOnlyList<string> Groups);
