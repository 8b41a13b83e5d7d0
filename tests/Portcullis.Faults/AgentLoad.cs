using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.Faults;

/// <summary>What one agent request got: its phase and session, the marker that finds it in the record, its status (0: no answer).</summary>
public sealed record Outcome(Phase Phase, string Session, string Marker, string Kind, int Status, TimeSpan SentAt, TimeSpan DoneAt);

/// <summary>One fault's stretch of the run; the agents use sessions of their own in each, so every phase is counted apart.</summary>
public sealed class Phase(int index, string name)
{
    public int Index { get; } = index;
    public string Name { get; } = name;
    public TimeSpan? CrashedAt { get; set; }
    public TimeSpan? RepairedAt { get; set; }
    public string? Error { get; set; }
    public ConcurrentBag<Outcome> Outcomes { get; } = [];
}

/// <summary>
/// A few agents sending /http, /sql and /exec requests back to back, each with a unique marker in what it sends
/// (the query string, the SQL, the command), so the audit's RequestReceived of every request can be found.
/// </summary>
public sealed class AgentLoad(PortcullisStack stack, int agents, string run)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _agents = [];
    private volatile Phase _phase = new(0, "steady load, no fault");

    public List<Phase> Phases { get; } = [];
    public TimeSpan Now => _clock.Elapsed;

    public static string SessionOf(Phase phase, int agent, string run) => $"faults-{run}-p{phase.Index}-a{agent}";

    public async Task StartAsync()
    {
        Phases.Add(_phase);
        var token = await stack.TokenFor(PortcullisStack.AgentClient);
        for (var agent = 0; agent < agents; agent++)
        {
            var id = agent;
            _agents.Add(Task.Run(() => AgentAsync(id, token)));
        }
    }

    public Phase Begin(string name)
    {
        var phase = new Phase(Phases.Count, name);
        Phases.Add(phase);
        _phase = phase;
        return phase;
    }

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_agents);
    }

    private async Task AgentAsync(int agent, string token)
    {
        using var http = new HttpClient { BaseAddress = stack.Gateway.BaseAddress, Timeout = TimeSpan.FromSeconds(15) };
        for (var n = agent; !_stop.IsCancellationRequested; n++)
        {
            var phase = _phase;
            var session = SessionOf(phase, agent, run);
            var marker = "fm" + Guid.NewGuid().ToString("N");
            var (kind, request) = (n % 3) switch
            {
                0 => ("http", new HttpRequestMessage(HttpMethod.Get, $"http/demo/customers/{1 + n % 3}?m={marker}")),
                1 => ("sql", new HttpRequestMessage(HttpMethod.Post, "sql/warehouse")
                    { Content = JsonContent.Create(new { sql = $"SELECT id, email, '{marker}' AS marker FROM demo.customers ORDER BY id LIMIT 2" }) }),
                _ => ("exec", new HttpRequestMessage(HttpMethod.Post, "exec/ops") { Content = JsonContent.Create(new { command = $"echo {marker}" }) }),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.Add("X-Session-Id", session);
            var sentAt = Now;
            var status = 0;
            try
            {
                using var response = await http.SendAsync(request, _stop.Token);
                await response.Content.ReadAsByteArrayAsync(_stop.Token);
                status = (int)response.StatusCode;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                // The run ended with this request in flight: its answer is unknown.
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                // No answer (the gateway is down, or the connection broke): status 0.
            }
            finally
            {
                request.Dispose();
            }
            phase.Outcomes.Add(new Outcome(phase, session, marker, kind, status, sentAt, Now));
            if (status != 200) await Task.Delay(100, CancellationToken.None); // no tight loop against a refusing gateway
        }
    }
}
