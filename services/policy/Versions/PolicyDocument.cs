namespace Portcullis.Policy.Versions;

/// <summary>The policy as an event-sourced document: the latest version, rebuilt from its stream.</summary>
public sealed class PolicyDocument
{
    public string Id { get; set; } = "";
    public int Version { get; set; }
    public string Yaml { get; set; } = "";
    public string ContentHash { get; set; } = "";

    /// <summary>The hash of the configuration file's policy when it last published a version.</summary>
    public string? LastFileHash { get; set; }

    public static PolicyDocument Create(PolicyVersionPublished published) => new PolicyDocument { Id = published.StreamId }.Apply(published);

    public PolicyDocument Apply(PolicyVersionPublished published)
    {
        Version = published.Version;
        Yaml = published.Yaml;
        ContentHash = published.ContentHash;
        if (published.Source == PolicyVersions.FileSource) LastFileHash = published.ContentHash;
        return this;
    }
}
