namespace Portcullis.Policy.Versions;

/// <summary>A version of the policy was published: its whole policy section, who published it and from where.</summary>
public sealed record PolicyVersionPublished(
    string StreamId,
    int Version,
    string Yaml,
    string ContentHash,
    string Source,
    string PublishedBy,
    string? Comment,
    DateTimeOffset PublishedAt);
