using System.Diagnostics.Metrics;

namespace Portcullis.Defaults.Telemetry;

/// <summary>
/// The "Portcullis" meter: what each service counts, named as Prometheus shows it (<c>portcullis_</c>, with
/// <c>_total</c> after counters and <c>_milliseconds</c> after durations). Tags are names from the configuration
/// (rules, connections, entity types) and fixed words (effects, outcomes), never a value from a request or a result.
/// One instrument is one static field; recording with no listener costs a branch.
/// </summary>
public static class PortcullisMetrics
{
    public const string MeterName = "Portcullis";
    private static readonly Meter Meter = new(MeterName);

    /// <summary>Histogram buckets for the millisecond instruments: sub-millisecond gateway work up to a minute's wait.</summary>
    public static readonly double[] MillisecondBuckets = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000];

    // policy
    public static readonly Counter<long> Decisions = Meter.CreateCounter<long>("portcullis_decisions",
        description: "Policy decisions, by effect (allow, deny, require_approval), deciding rule and connection.");

    // approval
    public static readonly Counter<long> ApprovalsOpened = Meter.CreateCounter<long>("portcullis_approvals_opened",
        description: "Approvals opened (an action waiting for a human).");
    public static readonly Counter<long> ApprovalsGranted = Meter.CreateCounter<long>("portcullis_approvals_granted",
        description: "Approvals granted.");
    public static readonly Counter<long> ApprovalsDenied = Meter.CreateCounter<long>("portcullis_approvals_denied",
        description: "Approvals denied.");
    public static readonly Counter<long> ApprovalsExpired = Meter.CreateCounter<long>("portcullis_approvals_expired",
        description: "Approvals that expired unanswered.");
    public static readonly Histogram<double> ApprovalWait = Meter.CreateHistogram<double>("portcullis_approval_wait", "ms",
        "How long an approval waited for its answer, by outcome (granted, denied, expired).");

    // masking
    public static readonly Counter<long> ValuesMasked = Meter.CreateCounter<long>("portcullis_values_masked",
        description: "Values masked in outputs, by entity type (email, card, column...).");

    // gateway
    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("portcullis_requests",
        description: "Agent requests completed, by protocol and outcome.");
    public static readonly Histogram<double> UpstreamLatency = Meter.CreateHistogram<double>("portcullis_upstream_latency", "ms",
        "Time the upstream took to answer an allowed action, by connection and protocol.");
    public static readonly Histogram<double> GatewayOverhead = Meter.CreateHistogram<double>("portcullis_gateway_overhead", "ms",
        "Time an agent request spent in Portcullis itself (total less the upstream's share and any wait for a human), by protocol.");

    // audit
    public static readonly Histogram<double> AuditIngestLag = Meter.CreateHistogram<double>("portcullis_audit_ingest_lag", "ms",
        "Time from an event's publication to its being stored in its session's stream.");

    /// <summary>How many stored events each projection has yet to apply, as <paramref name="observe"/> last found it.</summary>
    public static void ObserveAuditProjectionLag(Func<IEnumerable<Measurement<long>>> observe) =>
        Meter.CreateObservableGauge("portcullis_audit_projection_lag", observe, "{event}",
            "Stored events a projection (session timelines, identity activity, decision statistics) has not applied yet.");
}
