using Portcullis.Contracts;

namespace Portcullis.Policy.Rules;

/// <summary>
/// One case of the policy's own tests (like OPA's policy tests): who acts, what they attempt, and the effect
/// (and, when given, the rule) the policy must decide. A version whose cases fail is never published.
/// </summary>
public sealed class PolicyTestConfig
{
    public string Name { get; set; } = "";
    public PolicyTestPrincipalConfig Principal { get; set; } = new();

    /// <summary>The action as the policy sees it: protocol (http, sql, exec, mcp), connection, and that protocol's fields.</summary>
    public PolicyTestActionConfig Action { get; set; } = new();

    /// <summary>allow, deny or require_approval.</summary>
    public string Expect { get; set; } = "";

    /// <summary>The rule that must decide (a rule id, or a builtin such as builtin:sql-unparsable); unchecked when absent.</summary>
    public string? Rule { get; set; }

    /// <summary>Rules whose budgets the case takes as spent (the others as unspent): how the policy decides once they are.</summary>
    public List<string> BudgetsSpent { get; set; } = [];
}

public sealed class PolicyTestPrincipalConfig
{
    public string Subject { get; set; } = "policy-test";
    public List<string> Groups { get; set; } = [];
}

public sealed class PolicyTestActionConfig
{
    public string Protocol { get; set; } = "";
    public string Connection { get; set; } = "";
    public string? Method { get; set; }
    public string? Path { get; set; }
    public string? Query { get; set; }
    public string? Sql { get; set; }
    public string? Command { get; set; }
    public string? Parameters { get; set; }
}

/// <summary>The outcome of one case: what was expected, what the policy decided, and why.</summary>
public sealed record PolicyTestResult(string Name, bool Passed, string Expected, string? ExpectedRule, string Actual,
    string? ActualRule, string Reason)
{
    /// <summary>One line naming the case and how it failed, for the refusal of a publish.</summary>
    public string Describe() => Passed
        ? $"'{Name}' passed"
        : $"'{Name}': expected {Expected}{(ExpectedRule is null ? "" : $" by rule '{ExpectedRule}'")}, got {Actual}"
          + $"{(ActualRule is null ? "" : $" by rule '{ActualRule}'")} ({Reason})";
}

/// <summary>All cases of one version, run against that version.</summary>
public sealed record PolicyTestReport(string PolicyVersion, int Passed, int Failed, IReadOnlyList<PolicyTestResult> Cases)
{
    public IEnumerable<PolicyTestResult> Failures => Cases.Where(c => !c.Passed);
}

/// <summary>A publish refused because the version's own tests fail.</summary>
public sealed class PolicyTestsFailedException(PolicyTestReport report)
    : InvalidOperationException($"{report.Failed} of {report.Cases.Count} policy tests fail:\n  "
                                + string.Join("\n  ", report.Failures.Select(f => f.Describe())))
{
    public PolicyTestReport Report { get; } = report;
}

/// <summary>Runs a version's test cases through the same evaluator that decides live requests.</summary>
public sealed class PolicyTestRunner(PolicyEvaluator evaluator)
{
    public PolicyTestReport Run(CompiledPolicy policy, IReadOnlyList<PolicyTestConfig> tests)
    {
        var results = tests.Select((test, index) => Run(policy, test, index)).ToArray();
        var passed = results.Count(r => r.Passed);
        return new PolicyTestReport(policy.Version, passed, results.Length - passed, results);
    }

    private PolicyTestResult Run(CompiledPolicy policy, PolicyTestConfig test, int index)
    {
        var name = test.Name.Length > 0 ? test.Name : $"policy.tests[{index}]";
        var action = test.Action;
        // A case that cannot be run is a failing case, named, rather than one silently skipped.
        var problem = ExpectedEffect(test.Expect) is null ? $"expect '{test.Expect}' is not one of allow, deny, require_approval"
            : action.Protocol is not (Protocols.Http or Protocols.Sql or Protocols.Exec or Protocols.Mcp) ? $"action.protocol '{action.Protocol}' is not one of http, sql, exec, mcp"
            : action.Connection.Length == 0 ? "action.connection is missing"
            : test.BudgetsSpent.FirstOrDefault(id => !policy.BudgetRules.Any(r => r.Id == id)) is { } unknown
                ? $"budgets_spent names '{unknown}', which is not a rule with a budget"
            : null;
        if (problem is not null)
            return new PolicyTestResult(name, false, test.Expect, test.Rule, "not run", null, problem);

        var request = new RequestReceived(Guid.Empty, "policy-test",
            new Principal(test.Principal.Subject, test.Principal.Subject, test.Principal.Groups),
            new AgentAction(action.Protocol, action.Connection, action.Method, action.Path, action.Query, action.Sql,
                action.Command, action.Parameters), DateTimeOffset.UnixEpoch);
        var decided = evaluator.Evaluate(policy, request, Budgets.BudgetUsage.SpentFor(test.BudgetsSpent)).Evaluated;
        var passed = decided.Decision == ExpectedEffect(test.Expect)
                     && (test.Rule is null || string.Equals(test.Rule, decided.RuleId, StringComparison.Ordinal));
        return new PolicyTestResult(name, passed, test.Expect, test.Rule, EffectName(decided.Decision), decided.RuleId, decided.Reason);
    }

    private static Decision? ExpectedEffect(string text) => text switch
    {
        "allow" => Decision.Allow,
        "deny" => Decision.Deny,
        "require_approval" => Decision.RequireApproval,
        _ => null,
    };

    public static string EffectName(Decision decision) => decision switch
    {
        Decision.Allow => "allow",
        Decision.RequireApproval => "require_approval",
        _ => "deny",
    };
}
