namespace Portcullis.Policy.Rules;

/// <summary>The policy version in force. Swapped whole when a new version is published, never edited in place.</summary>
public sealed class PolicyProvider(CompiledPolicy initial)
{
    private volatile CompiledPolicy _current = initial;

    public CompiledPolicy Current => _current;

    public void Replace(CompiledPolicy policy) => _current = policy;
}
