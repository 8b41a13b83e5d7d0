using Portcullis.Contracts;

namespace Portcullis.Policy.Rules;

/// <summary>
/// Decides a request: every rule is checked; the strictest effect among those that match wins (deny over
/// require_approval over allow), the earliest in the file among equals, so the answer never depends on
/// timing. When nothing matches, the connection's default effect decides.
/// </summary>
public sealed class PolicyEvaluator(CompiledPolicy policy, TimeProvider clock)
{
    public PolicyEvaluated Evaluate(RequestReceived request)
    {
        var (principal, action) = (request.Principal, request.Action);
        var matched = policy.Rules.Where(rule => rule.Matches(principal, action)).ToArray();
        var winner = matched.OrderByDescending(rule => rule.Effect).ThenBy(rule => rule.Order).FirstOrDefault();

        Decision decision;
        string reason;
        if (winner is not null)
        {
            (decision, reason) = (winner.Effect, winner.Reason);
        }
        else if (policy.ConnectionDefaults.TryGetValue(action.Connection, out var connectionDefault))
        {
            decision = connectionDefault;
            reason = $"No rule matched; the default for connection '{action.Connection}' is {Describe(decision)}.";
        }
        else
        {
            decision = Decision.Deny;
            reason = $"Connection '{action.Connection}' is not configured.";
        }

        return new PolicyEvaluated(
            request.RequestId,
            request.SessionId,
            decision,
            winner?.Id,
            reason,
            [.. matched.Select(rule => rule.Id)],
            winner?.Effect == Decision.RequireApproval ? winner.Approvers : [],
            policy.Version,
            principal,
            action,
            clock.GetUtcNow());
    }

    private static string Describe(Decision decision) => decision == Decision.Allow ? "allow" : "deny";
}
