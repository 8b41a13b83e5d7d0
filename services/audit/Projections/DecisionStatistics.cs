using JasperFx.Events;
using Marten.Events.Projections;
using Portcullis.Contracts;

namespace Portcullis.Audit.Projections;

/// <summary>
/// Decisions per day, connection and rule: allowed, denied, sent to approval, approved and refused by approvers
/// (under the policy rule), and values masked (under the masking rule or detector that masked them).
/// Lifecycle: asynchronous (the projection daemon), rebuilt from the streams by the rebuild command.
/// </summary>
public sealed class DecisionStatistics : IDecisionCounts
{
    public string Id { get; set; } = ""; // day|connection|rule
    public DateOnly Day { get; set; }
    public string Connection { get; set; } = "";
    public string Rule { get; set; } = "";
    public int Allowed { get; set; }
    public int Denied { get; set; }
    public int ApprovalRequired { get; set; }
    public int Approved { get; set; }
    public int ApprovalDenied { get; set; }
    public int Masked { get; set; }

    int IDecisionCounts.ApprovalsGranted { get => Approved; set => Approved = value; }
    int IDecisionCounts.ApprovalsRefused { get => ApprovalDenied; set => ApprovalDenied = value; }

    public static string Key(DateTimeOffset at, string? connection, string? rule) =>
        $"{at.UtcDateTime:yyyy-MM-dd}|{connection ?? "?"}|{rule ?? "default"}";
}

public sealed class DecisionStatisticsProjection : MultiStreamProjection<DecisionStatistics, string>
{
    public DecisionStatisticsProjection()
    {
        Identity<PolicyEvaluated>(e => DecisionStatistics.Key(e.EvaluatedAt, e.Action.Connection, e.RuleId));
        Identity<ApprovalGranted>(e => DecisionStatistics.Key(e.GrantedAt, e.Connection, e.RuleId));
        Identity<ApprovalDenied>(e => DecisionStatistics.Key(e.DeniedAt, e.Connection, e.RuleId));
        Identities<ResponseMasked>(e => [.. (e.CountsByRule ?? new Dictionary<string, int>())
            .Select(rule => DecisionStatistics.Key(e.MaskedAt, e.Connection, rule.Key))]);
    }

    public override DecisionStatistics Evolve(DecisionStatistics? snapshot, string id, IEvent e)
    {
        var parts = id.Split('|', 3);
        var statistics = snapshot ?? new DecisionStatistics
            { Id = id, Day = DateOnly.Parse(parts[0]), Connection = parts[1], Rule = parts[2] };
        switch (e.Data)
        {
            case ResponseMasked masked: statistics.Masked += masked.CountsByRule?.GetValueOrDefault(statistics.Rule) ?? 0; break;
            default: statistics.Count(e.Data); break;
        }
        return statistics;
    }
}
