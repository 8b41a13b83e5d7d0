using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The SQL capability corpus (Corpus/sql-capabilities.txt) through POST /sql/warehouse against the seeded database,
/// and through MCP's sql_query in one agent session:
/// a statement expected refused must be refused by its rule (so it never ran), and a benign one must run.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SqlCapabilityCorpusTests(PortcullisStack stack)
{
    public static TheoryData<string, string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string, string>();
        var group = "";
        foreach (var line in File.ReadLines(Path.Combine(PortcullisStack.RepositoryRoot, "tests", "Portcullis.EndToEndTests", "Corpus", "sql-capabilities.txt")))
        {
            if (line.StartsWith("## ", StringComparison.Ordinal)) { group = line[3..].Split(':')[0].Trim(); continue; }
            if (line.StartsWith('#') || line.Trim().Length == 0) continue;
            var separator = line.IndexOf("::", StringComparison.Ordinal);
            var head = line[..separator].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            data.Add(group, line[(separator + 2)..].TrimStart(' ').Replace('⏎', '\n'), head[0], head[1]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Through_the_gateway(string group, string sql, string decision, string rule)
    {
        // A 503 means no decision arrived in time (the test stack's deadline is 2 s; the first decisions of a cold
        // policy service on a shared machine can take longer): nothing ran, so the statement is sent again, for up
        // to 30 s.
        HttpResponseMessage response;
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", "e2e-sql-corpus");
            request.Content = JsonContent.Create(new { sql });
            response = await stack.Gateway.SendAsync(request);
            if (response.StatusCode != HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > until) break;
            response.Dispose();
            await Task.Delay(TimeSpan.FromSeconds(1));
        }
        using var _ = response;
        var body = await response.Content.ReadAsStringAsync();
        if (decision == "allow")
        {
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"[{group}] a benign statement did not run: {(int)response.StatusCode} {body}");
            return;
        }
        Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"[{group}] expected a refusal by {rule}, got {(int)response.StatusCode} {body}");
        Assert.Equal(rule, JsonDocument.Parse(body).RootElement.GetProperty("rule").GetString());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Through_mcp_sql_query(string group, string sql, string decision, string rule)
    {
        var agent = await McpAgent.SharedSession(stack, "sql-capability-corpus");
        var result = await agent.CallAsync("sql_query", new Dictionary<string, object?> { ["connection"] = "warehouse", ["sql"] = sql });
        var text = McpAgent.Text(result);
        if (decision == "allow")
        {
            Assert.True(result.IsError != true, $"[{group}] a benign statement did not run: {text}");
            return;
        }
        Assert.True(result.IsError == true && text.StartsWith($"Denied by policy rule '{rule}'", StringComparison.Ordinal),
            $"[{group}] expected a refusal by {rule}, got: {text}");
    }
}
