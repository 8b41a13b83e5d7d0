using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.Faults;

/// <summary>
/// The fault suite: the whole stack under steady agent load while each fault in turn strikes and is repaired;
/// then, per fault, the invariants, from what the agents got, what the upstream saw and what the audit holds:
/// every action the agent got 200 for is in its session's stream exactly once (RequestReceived, PolicyEvaluated,
/// RequestCompleted); nothing reached the upstream without its RequestReceived recorded; no event of a request
/// is recorded twice; every session's chain verifies; and the gateway serves again within seconds of the repair.
/// </summary>
public static partial class FaultSuite
{
    private const int Agents = 4;
    private static readonly TimeSpan Steady = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan Down = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(90);
    private static readonly string[] Steps = ["RequestReceived", "PolicyEvaluated", "RequestCompleted"];

    public static async Task<bool> RunAsync(IReadOnlyList<Fault> faults)
    {
        var stack = new PortcullisStack();
        // The production deadlines, not the tests' short ones: a busy machine answers a decision in seconds.
        stack.GatewaySettings["Gateway__DecisionTimeout"] = "00:00:05";
        stack.GatewaySettings["Gateway__MaskingTimeout"] = "00:00:10";
        try
        {
            Console.WriteLine($"[faults] starting the stack ({string.Join(", ", faults.Select(f => f.Name))})");
            await stack.InitializeAsync();
            Console.WriteLine($"[faults] PostgreSQL: {await DurabilityAsync(stack.AdminConnectionString)}");
            var run = Guid.NewGuid().ToString("N")[..6];
            await WarmUpAsync(stack);
            var load = new AgentLoad(stack, Agents, run);
            await load.StartAsync();
            await Task.Delay(Steady * 2);

            foreach (var fault in faults)
            {
                var phase = load.Begin(fault.Name);
                Console.WriteLine($"[faults] {load.Now:mm\\:ss} {fault.Name}");
                await Task.Delay(Steady);
                try
                {
                    phase.CrashedAt = load.Now;
                    await fault.Crash(stack);
                    await Task.Delay(Down);
                    phase.RepairedAt = load.Now;
                    await fault.Repair(stack);
                }
                catch (Exception ex)
                {
                    phase.Error = $"{ex.GetType().Name}: {ex.Message}";
                    Console.WriteLine($"[faults]   {phase.Error}");
                }
                var deadline = load.Now + RecoveryLimit;
                while (load.Now < deadline && Recovery(phase) is null) await Task.Delay(200);
                Console.WriteLine($"[faults] {load.Now:mm\\:ss}   serving again after {Seconds(Recovery(phase))}");
                await Task.Delay(Steady);
            }
            load.Begin("after the last fault");
            await load.StopAsync();

            // The record follows the answers by a moment (and by a backlog after a fault): wait until nothing is missing.
            Console.WriteLine("[faults] waiting for the audit to record everything answered");
            var settle = DateTime.UtcNow + SettleLimit;
            List<Row> rows;
            while (true)
            {
                rows = [];
                foreach (var phase in load.Phases.Where(p => !p.Outcomes.IsEmpty)) rows.Add(await EvaluateAsync(stack, phase, run));
                if (rows.All(r => r.Lost == 0) || DateTime.UtcNow > settle) break;
                await Task.Delay(2000);
            }
            await Task.Delay(TimeSpan.FromSeconds(3)); // anything redelivered late would land now
            rows = [];
            foreach (var phase in load.Phases.Where(p => !p.Outcomes.IsEmpty)) rows.Add(await EvaluateAsync(stack, phase, run));

            Console.WriteLine();
            Console.WriteLine(Table(rows));
            var passed = rows.All(r => r.Passed);
            foreach (var row in rows.Where(r => !r.Passed)) Console.WriteLine($"[faults] FAILED {row.Fault}: {row.Why}");
            Console.WriteLine(passed ? "[faults] every invariant held" : "[faults] some invariants did not hold (above)");
            Console.WriteLine($"[faults] service logs: {stack.RunDirectory}");
            return passed;
        }
        finally
        {
            await stack.DisposeAsync();
        }
    }

    /// <summary>Counts of one phase, and whether its invariants held.</summary>
    private sealed record Row(string Fault, int Sent, int Executed, int Refused, int Failed, int Recorded, int Lost,
        int Unconfirmed, int Duplicated, bool ChainValid, TimeSpan? Recovery, string? Why)
    {
        public bool Passed => Why is null;
    }

    private static async Task<Row> EvaluateAsync(PortcullisStack stack, Phase phase, string run)
    {
        var outcomes = phase.Outcomes.ToList();
        var executed = outcomes.Where(o => o.Status == 200).ToList();
        var requestsByMarker = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        var counts = new Dictionary<(string Request, string Type), int>();
        var chainValid = true;
        foreach (var session in outcomes.Select(o => o.Session).Distinct())
        {
            var (events, valid) = await RecordAsync(stack, session);
            chainValid &= valid;
            foreach (var (type, requestId, data) in events)
            {
                counts[(requestId, type)] = counts.GetValueOrDefault((requestId, type)) + 1;
                if (type == "RequestReceived" && MarkerPattern().Match(data) is { Success: true } marker)
                {
                    if (!requestsByMarker.TryGetValue(marker.Value, out var ids)) requestsByMarker[marker.Value] = ids = [];
                    ids.Add(requestId);
                }
            }
        }
        int Count(string request, string type) => counts.GetValueOrDefault((request, type));
        var recorded = executed.Count(o => requestsByMarker.TryGetValue(o.Marker, out var ids) && ids.Count == 1
                                           && Steps.All(step => Count(ids.First(), step) == 1));
        var lost = executed.Count(o => !requestsByMarker.TryGetValue(o.Marker, out var ids) || ids.All(id => Steps.Any(step => Count(id, step) == 0)));
        // Reached the upstream, whatever the agent got: its RequestReceived must be in the record.
        var phaseMarkers = outcomes.Select(o => o.Marker).ToHashSet(StringComparer.Ordinal);
        var upstream = (await stack.UpstreamRequests()).Select(r => r.Query is { } q ? MarkerPattern().Match(q) : Match.Empty)
            .Where(m => m.Success && phaseMarkers.Contains(m.Value)).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var unconfirmed = upstream.Count(m => !requestsByMarker.ContainsKey(m));
        var duplicated = requestsByMarker.Values.Count(ids => ids.Count > 1) + counts.Where(c => c.Value > 1).Select(c => c.Key.Request).Distinct().Count();
        var recovery = Recovery(phase);

        var why = new List<string>();
        if (phase.Error is not null) why.Add(phase.Error);
        if (lost > 0) why.Add($"{lost} answered requests are missing from the record");
        if (unconfirmed > 0) why.Add($"{unconfirmed} requests reached the upstream without a recorded RequestReceived");
        if (duplicated > 0) why.Add($"{duplicated} requests have an event recorded twice");
        if (!chainValid) why.Add("a session's chain does not verify");
        if (executed.Count == 0) why.Add("no request was served at all");
        if (phase.RepairedAt is not null && recovery is null) why.Add($"not serving again within {RecoveryLimit.TotalSeconds} s of the repair");
        return new Row(phase.Name, outcomes.Count, executed.Count, outcomes.Count(o => o.Status == 503),
            outcomes.Count(o => o.Status is not 200 and not 503), recorded, lost, unconfirmed, duplicated, chainValid, recovery,
            why.Count == 0 ? null : string.Join("; ", why));
    }

    /// <summary>Each kind of request once, until served: the first of each starts services' cold paths, slow on a busy machine.</summary>
    private static async Task WarmUpAsync(PortcullisStack stack)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        foreach (var (method, path, body) in new (HttpMethod, string, object?)[]
                 {
                     (HttpMethod.Get, "http/demo/customers/1", null),
                     (HttpMethod.Post, "sql/warehouse", new { sql = "SELECT id, email FROM demo.customers ORDER BY id LIMIT 2" }),
                     (HttpMethod.Post, "exec/ops", new { command = "echo warm" }),
                 })
        {
            while (true)
            {
                using var request = await stack.AgentRequest(method, path, "faults-warm-up");
                if (body is not null) request.Content = System.Net.Http.Json.JsonContent.Create(body);
                using var response = await stack.Gateway.SendAsync(request);
                if (response.StatusCode == HttpStatusCode.OK) break;
                if (DateTime.UtcNow > deadline)
                    throw new InvalidOperationException($"{path} is not served after 120 s: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                await Task.Delay(500);
            }
        }
        Console.WriteLine("[faults] warmed up: /http, /sql and /exec served");
    }

    /// <summary>From the repair to the first answer served after it (null: none yet).</summary>
    private static TimeSpan? Recovery(Phase phase) =>
        phase.RepairedAt is not { } repaired ? null
            : phase.Outcomes.Where(o => o.Status == 200 && o.SentAt >= repaired).Select(o => (TimeSpan?)(o.DoneAt - repaired)).Min();

    /// <summary>A session's events as the audit serves them to an auditor, and whether its chain verifies.</summary>
    private static async Task<(List<(string Type, string RequestId, string Data)> Events, bool Valid)> RecordAsync(PortcullisStack stack, string session)
    {
        var token = await stack.TokenFor(PortcullisStack.AuditorClient);
        async Task<(HttpStatusCode, string)> Get(string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await stack.Audit.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        var (status, body) = await Get($"sessions/{Uri.EscapeDataString(session)}");
        if (status == HttpStatusCode.NotFound) return ([], true);
        if (status != HttpStatusCode.OK) throw new InvalidOperationException($"GET sessions/{session}: {(int)status} {body}");
        var events = JsonDocument.Parse(body).RootElement.GetProperty("events").EnumerateArray()
            .Select(e => (e.GetProperty("type").GetString()!, e.GetProperty("requestId").GetString()!, e.GetProperty("data").GetRawText()))
            .ToList();
        var (verifyStatus, verify) = await Get($"sessions/{Uri.EscapeDataString(session)}/verify");
        var valid = verifyStatus == HttpStatusCode.OK && JsonDocument.Parse(verify).RootElement.GetProperty("valid").GetBoolean();
        // What the verifier found, so that a failed run says why (the open RabbitMQ finding was not diagnosable without it).
        if (!valid) Console.WriteLine($"    session {session} does not verify ({(int)verifyStatus}): {verify}");
        return (events, valid);
    }

    private static async Task<string> DurabilityAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var settings = new List<string>();
        foreach (var name in new[] { "fsync", "synchronous_commit", "full_page_writes" })
        {
            await using var show = new NpgsqlCommand($"SHOW {name}", connection);
            settings.Add($"{name}={await show.ExecuteScalarAsync()}");
        }
        return string.Join(" ", settings);
    }

    private static string Seconds(TimeSpan? span) =>
        span is { } s ? s.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s" : "-";

    private static string Table(List<Row> rows)
    {
        var text = new StringBuilder();
        text.AppendLine("| fault | requests sent | executed (200) | refused (503) | no answer / other | recorded | lost | reached upstream unrecorded | duplicated | chains verify | recovery |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |");
        foreach (var r in rows)
            text.AppendLine($"| {r.Fault} | {r.Sent} | {r.Executed} | {r.Refused} | {r.Failed} | {r.Recorded} | {r.Lost} | {r.Unconfirmed} | " +
                            $"{r.Duplicated} | {(r.ChainValid ? "yes" : "NO")} | {Seconds(r.Recovery)} |");
        return text.ToString();
    }

    [GeneratedRegex("fm[0-9a-f]{32}")]
    private static partial Regex MarkerPattern();
}
