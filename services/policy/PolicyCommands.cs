using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Portcullis.Defaults.Configuration;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy;

/// <summary>The policy's command-line forms, for rule authors: its tests run locally, a simulation run by the service.</summary>
public static class PolicyCommands
{
    /// <summary><c>test --file portcullis.yaml</c>: the file's policy tests, like <c>opa test</c>; exit code 1 when any fails.</summary>
    public static int Test(string[] args)
    {
        var file = Options(args)["file"] ?? "portcullis.yaml";
        var config = PortcullisConfigLoader.Load(file);
        var runner = new PolicyTestRunner(new PolicyEvaluator(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System));
        var report = runner.Run(CompiledPolicy.From(config), config.Policy.Read<PolicyConfig>().Tests);
        foreach (var result in report.Cases)
            Console.WriteLine($"{(result.Passed ? "PASS" : "FAIL")} {result.Describe()}");
        Console.WriteLine($"{report.Passed} passed, {report.Failed} failed");
        return report.Failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// <c>simulate --file portcullis.yaml --from TIME --to TIME [--connection C] [--subject S] [--url URL]</c>: the file's
    /// policy section sent to POST /policy/simulate of a running policy service (default http://127.0.0.1:5101) with the
    /// token in PORTCULLIS_TOKEN (an admin who is also an auditor); the answer's lines printed as they arrive.
    /// </summary>
    public static async Task<int> SimulateAsync(string[] args)
    {
        var options = Options(args);
        var yaml = PortcullisConfigLoader.Load(options["file"] ?? "portcullis.yaml").Policy.Read<PolicyConfig>().ToYaml();
        var from = DateTimeOffset.Parse(options["from"] ?? throw new InvalidOperationException("Give --from <time>."), CultureInfo.InvariantCulture);
        var to = options["to"] is { } text ? DateTimeOffset.Parse(text, CultureInfo.InvariantCulture) : DateTimeOffset.UtcNow;
        var token = Environment.GetEnvironmentVariable("PORTCULLIS_TOKEN")
                    ?? throw new InvalidOperationException("Set PORTCULLIS_TOKEN to an admin's (and auditor's) bearer token.");
        using var client = new HttpClient { BaseAddress = new Uri((options["url"] ?? "http://127.0.0.1:5101").TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Post, "policy/simulate")
        {
            Content = JsonContent.Create(new { yaml, from, to, connection = options["connection"], subject = options["subject"] }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var summary = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            Console.WriteLine(line);
            summary |= line.StartsWith("{\"type\":\"summary\"", StringComparison.Ordinal);
        }
        // Without its summary line the answer was cut short (or refused): not a simulation to act on.
        return response.IsSuccessStatusCode && summary ? 0 : 1;
    }

    private static IConfiguration Options(string[] args) => new ConfigurationBuilder().AddCommandLine(args.Skip(1).ToArray()).Build();
}
