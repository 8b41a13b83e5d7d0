namespace Portcullis.Policy.Rules;

/// <summary>
/// The policy version in force. Swapped whole when a new version is published, never edited in place. Until
/// one is loaded nothing can be decided, and requests fail (closed).
/// </summary>
public sealed class PolicyProvider
{
    private volatile CompiledPolicy? _current;

    public bool IsLoaded => _current is not null;

    public CompiledPolicy Current => _current ?? throw new InvalidOperationException("No policy version is loaded yet.");

    public void Replace(CompiledPolicy policy) => _current = policy;
}
