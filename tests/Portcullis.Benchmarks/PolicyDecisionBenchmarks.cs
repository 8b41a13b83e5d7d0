using BenchmarkDotNet.Attributes;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.Benchmarks;

/// <summary>
/// One decision over an HTTP request, the worst case for rule count: every rule is on the request's own
/// connection, with groups, methods and path globs, so none is ruled out by its connection alone.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class PolicyDecisionBenchmarks
{
    private readonly PolicyEvaluator _evaluator = new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);
    private CompiledPolicy _ten = null!;
    private CompiledPolicy _fiveHundred = null!;
    private RequestReceived _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        _ten = Policy(10);
        _fiveHundred = Policy(500);
        _request = new RequestReceived(Guid.NewGuid(), "bench", new Principal("agent-1", "agent-1", ["agents", "readers"]),
            new AgentAction(Protocols.Http, "api", "GET", "/customers/17/orders", "?page=2"), DateTimeOffset.UtcNow);
    }

    [Benchmark(Baseline = true)]
    public PolicyDecision Decide_with_10_rules() => _evaluator.Evaluate(_ten, _request);

    [Benchmark]
    public PolicyDecision Decide_with_500_rules() => _evaluator.Evaluate(_fiveHundred, _request);

    private static CompiledPolicy Policy(int rules)
    {
        var connections = new Dictionary<string, ConnectionConfig>
        {
            ["api"] = new ConnectionConfig { Kind = "http", Upstream = "http://127.0.0.1:1/", DefaultEffect = "allow" },
        };
        var policy = new PolicyConfig();
        for (var i = 0; i < rules; i++)
        {
            policy.Rules.Add(new PolicyRuleConfig
            {
                Id = $"rule-{i}",
                Effect = (i % 3) switch { 0 => "deny", 1 => "allow", _ => "require_approval" },
                Approvers = ["approvers"],
                Match = new RuleMatchConfig
                {
                    Connections = ["api"],
                    Groups = [i % 2 == 0 ? "agents" : "admins"],
                    Methods = ["GET", "POST"],
                    Paths = [$"/area-{i}/**", $"/customers/*/item-{i}"],
                },
            });
        }
        return CompiledPolicy.From(policy, connections, MaskedColumnRules.None);
    }
}
