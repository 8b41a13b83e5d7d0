using System.Net;
using System.Net.Http.Json;
using Npgsql;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The upstream credentials (database password, SSH key, API key) are the gateway's alone: after a run that
/// uses each of them, successfully and in error, none appears in any response, any service's log, or any
/// event stored by the audit or policy services.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SecretsNeverLeakTests(PortcullisStack stack)
{
    [Fact]
    public async Task No_upstream_secret_appears_in_responses_logs_or_stored_events()
    {
        var responses = new List<string>();
        var session = "e2e-secrets-" + Guid.NewGuid().ToString("N")[..8];
        async Task<HttpStatusCode> Send(HttpMethod method, string path, object? json = null)
        {
            using var request = await stack.AgentRequest(method, path, session);
            if (json is not null) request.Content = JsonContent.Create(json);
            using var response = await stack.Gateway.SendAsync(request);
            responses.Add(string.Join('\n', response.Headers.Concat(response.Content.Headers).Select(h => $"{h.Key}: {string.Join(",", h.Value)}")));
            responses.Add(await response.Content.ReadAsStringAsync());
            return response.StatusCode;
        }

        // Each secret in use, and each path that could echo connection details: errors and refusals.
        Assert.Equal(HttpStatusCode.OK, await Send(HttpMethod.Post, "sql/warehouse", new { sql = "SELECT current_user, count(*) FROM demo.api_keys GROUP BY 1" }));
        Assert.Equal(HttpStatusCode.Forbidden, await Send(HttpMethod.Post, "sql/warehouse", new { sql = "SELECT * FROM pg_catalog.pg_authid" }));
        Assert.Equal((HttpStatusCode)422, await Send(HttpMethod.Post, "sql/warehouse", new { sql = "SELECT * FROM demo.no_such_table" }));
        Assert.Equal(HttpStatusCode.Forbidden, await Send(HttpMethod.Post, "sql/warehouse", new { sql = "SELEC broken" }));
        Assert.Equal(HttpStatusCode.OK, await Send(HttpMethod.Post, "exec/ops", new { command = "echo $HOME; ls /nonexistent" }));
        Assert.Equal(HttpStatusCode.OK, await Send(HttpMethod.Get, "http/demo/customers/2"));
        Assert.Equal(HttpStatusCode.Forbidden, await Send(HttpMethod.Get, "http/demo/admin/config"));

        // The audit stores the run's events a moment after the answers: searched once all seven requests are there.
        await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Count(e => e.GetProperty("type").GetString() == "RequestCompleted") == 7);
        var places = new Dictionary<string, string> { ["responses"] = string.Join('\n', responses) };
        foreach (var log in Directory.EnumerateFiles(stack.RunDirectory, "*.log"))
            places[Path.GetFileName(log)] = await ReadShared(log);
        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            foreach (var table in new[] { "audit.mt_events", "policy.mt_events" })
            {
                await using var command = new NpgsqlCommand($"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t", connection);
                places[table] = (string)(await command.ExecuteScalarAsync())!;
            }
        }
        Assert.Contains(session, places["audit.mt_events"]); // this run's events were stored and are searched

        foreach (var (name, secret) in stack.UpstreamSecrets)
        {
            // The SSH key is checked line by line, so a partial print of it counts too.
            var needles = secret.Split('\n').Select(line => line.Trim()).Where(line => line.Length >= 16 && !line.StartsWith("-----")).ToList();
            foreach (var (place, text) in places)
                foreach (var needle in needles)
                    Assert.False(text.Contains(needle, StringComparison.Ordinal), $"{name} appears in {place}");
        }
    }

    private static async Task<string> ReadShared(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }
}
