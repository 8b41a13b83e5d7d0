using System.Security.Cryptography;
using System.Text;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Policy.Rules;

/// <summary>The rules of portcullis.yaml, checked and compiled once. Invalid rules stop the service at start-up.</summary>
public sealed class CompiledPolicy
{
    public required string Version { get; init; }
    public required IReadOnlyList<CompiledRule> Rules { get; init; }
    public required Decision DefaultEffect { get; init; }
    public required IReadOnlyDictionary<string, Decision> ConnectionDefaults { get; init; }

    public static CompiledPolicy From(PortcullisConfig config)
    {
        var errors = new List<string>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var rules = new List<CompiledRule>();
        foreach (var (rule, index) in config.Policy.Rules.Select((rule, index) => (rule, index)))
        {
            var where = $"policy.rules[{index}]" + (rule.Id.Length > 0 ? $" ('{rule.Id}')" : "");
            if (rule.Id.Length == 0) errors.Add($"{where}: every rule needs an id");
            else if (!ids.Add(rule.Id)) errors.Add($"{where}: the id is used twice");
            if (!TryParseEffect(rule.Effect, out var effect))
                errors.Add($"{where}: effect '{rule.Effect}' is not one of allow, deny, require_approval");
            if (effect == Decision.RequireApproval && rule.Approvers.Count == 0)
                errors.Add($"{where}: require_approval needs approvers (groups)");
            foreach (var connection in rule.Match.Connections.Where(c => !config.Connections.ContainsKey(c)))
                errors.Add($"{where}: connection '{connection}' is not defined under connections");
            foreach (var path in rule.Match.Paths.Where(p => !p.StartsWith('/')))
                errors.Add($"{where}: path '{path}' must start with '/'");
            rules.Add(new CompiledRule(rule, effect, index));
        }

        if (!TryParseEffect(config.Policy.DefaultEffect, out var defaultEffect) || defaultEffect == Decision.RequireApproval)
            errors.Add($"policy.default_effect '{config.Policy.DefaultEffect}' must be allow or deny");
        var connectionDefaults = new Dictionary<string, Decision>(StringComparer.Ordinal);
        foreach (var (name, connection) in config.Connections)
        {
            if (connection.DefaultEffect is null) connectionDefaults[name] = defaultEffect;
            else if (TryParseEffect(connection.DefaultEffect, out var effect) && effect != Decision.RequireApproval)
                connectionDefaults[name] = effect;
            else errors.Add($"connections.{name}.default_effect '{connection.DefaultEffect}' must be allow or deny");
        }

        if (errors.Count > 0)
            throw new InvalidOperationException("The policy in portcullis.yaml is not valid:\n  " + string.Join("\n  ", errors));

        return new CompiledPolicy
        {
            Version = VersionOf(config),
            Rules = rules,
            DefaultEffect = defaultEffect,
            ConnectionDefaults = connectionDefaults,
        };
    }

    private static bool TryParseEffect(string value, out Decision effect)
    {
        (var ok, effect) = value switch
        {
            "allow" => (true, Decision.Allow),
            "deny" => (true, Decision.Deny),
            "require_approval" => (true, Decision.RequireApproval),
            _ => (false, Decision.Deny),
        };
        return ok;
    }

    // Until versions are stored as events, the version is the content hash of the rules, so two services
    // (or two runs) with the same rules name the same version and any change names a new one.
    private static string VersionOf(PortcullisConfig config)
    {
        var text = new StringBuilder(config.Policy.DefaultEffect);
        foreach (var (name, connection) in config.Connections.OrderBy(c => c.Key, StringComparer.Ordinal))
            text.Append('\n').Append(name).Append('=').Append(connection.DefaultEffect);
        foreach (var rule in config.Policy.Rules)
            text.Append('\n').Append(System.Text.Json.JsonSerializer.Serialize(rule));
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..12];
    }
}

public sealed class CompiledRule(PolicyRuleConfig rule, Decision effect, int order)
{
    private readonly HashSet<string> _connections = new(rule.Match.Connections, StringComparer.Ordinal);
    private readonly HashSet<string> _protocols = new(rule.Match.Protocols, StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _groups = new(rule.Match.Groups, StringComparer.Ordinal);
    private readonly HashSet<string> _subjects = new(rule.Match.Subjects, StringComparer.Ordinal);
    private readonly HashSet<string> _methods = new(rule.Match.Methods, StringComparer.OrdinalIgnoreCase);
    private readonly PathGlob[] _paths = [.. rule.Match.Paths.Select(p => new PathGlob(p))];

    public string Id => rule.Id;
    public Decision Effect => effect;
    public int Order => order;
    public IReadOnlyList<string> Approvers => rule.Approvers;
    public string Reason => rule.Reason ?? rule.Description ?? $"rule '{rule.Id}'";

    public bool Matches(Principal principal, AgentAction action) =>
        (_connections.Count == 0 || _connections.Contains(action.Connection)) &&
        (_protocols.Count == 0 || _protocols.Contains(action.Protocol)) &&
        (_subjects.Count == 0 || _subjects.Contains(principal.Subject)) &&
        (_groups.Count == 0 || principal.Groups.Any(_groups.Contains)) &&
        (_methods.Count == 0 || (action.Method is not null && _methods.Contains(action.Method))) &&
        (_paths.Length == 0 || (action.Path is not null && _paths.Any(p => p.IsMatch(action.Path))));
}
