using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Hosting;
using Portcullis.Policy.Analysis.Shell;
using Portcullis.Policy.Analysis.Sql;
using Portcullis.Policy.Apis;
using Portcullis.Policy.Rules;

namespace Portcullis.Policy;

/// <summary>
/// The policy's command line (System.CommandLine), for rule authors: <c>validate</c>, <c>test</c> and <c>evaluate</c>
/// work on a policy file locally, <c>simulate</c> asks a running policy service; each with <c>--help</c>. Without a
/// command the program runs the policy service. Exit codes, as the audit's: 0 done (a valid policy, every case
/// passing, an action decided, a complete simulation); 1 a policy that is not valid, a case that fails, or work that
/// failed; 2 bad usage (a missing option, a file that does not exist, a request that cannot be read).
/// </summary>
public static class PolicyCommands
{
    private static readonly string[] Commands = ["validate", "test", "evaluate", "simulate", "--help", "-h", "-?", "--version"];

    // Read by a person at a terminal: quotes and non-ASCII letters as they are, not \u escapes.
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Whether the arguments name a command (or ask for help) rather than starting the service.</summary>
    public static bool IsCommand(string[] args) => args is [var first, ..] && Commands.Contains(first);

    public static Task<int> InvokeAsync(string[] args, TextWriter? output = null, TextWriter? error = null)
    {
        var (stdout, stderr) = (output ?? Console.Out, error ?? Console.Error);
        return ServiceCommandLine.InvokeAsync(Root(stdout, stderr), "Portcullis.Policy", args, stdout, stderr, ex => ex switch
        {
            UsageException => new ServiceCommandLine.Failure(2, ex.Message, Usage: true),
            // The file or the policy in it is not valid: the loader and the compiler name the place and the reason.
            InvalidOperationException => new ServiceCommandLine.Failure(1, ex.Message),
            _ => null,
        });
    }

    private static readonly Option<string> File = new("--file", "-f")
    {
        Description = "The policy file: a portcullis.yaml (connections and the policy section).",
        DefaultValueFactory = _ => "portcullis.yaml",
    };

    public static RootCommand Root(TextWriter output, TextWriter error)
    {
        var root = new RootCommand("Portcullis policy: without a command, runs the policy service; with one, works on a policy file.");
        root.Subcommands.Add(Validate(output));
        root.Subcommands.Add(Test(output));
        root.Subcommands.Add(Evaluate(output));
        root.Subcommands.Add(Simulate(output, error));
        foreach (var command in root.Subcommands) command.Options.Add(File);
        return root;
    }

    private static Command Validate(TextWriter output)
    {
        var command = new Command("validate", "Reads the file and compiles its policy (every rule, pattern, SQL and shell matcher), as " +
                                              "publishing it would. Exit code 0 when it is valid, 1 when it is not (each error named with its place).");
        command.SetAction(parse =>
        {
            var (config, policy) = Load(parse);
            var section = config.Policy.Read<PolicyConfig>();
            output.WriteLine($"valid: {policy.Rules.Count} rule(s), default effect {policy.DefaultEffect}, " +
                             $"{config.Connections.Count} connection(s), {section.Tests.Count} test case(s) (run them with `test`)");
            return 0;
        });
        return command;
    }

    private static Command Test(TextWriter output)
    {
        var command = new Command("test", "Runs the policy's own test cases (the tests: list of its policy section), like `opa test`: " +
                                          "each case PASS or FAIL with why. Exit code 0 when every case passes, 1 when one fails.");
        command.SetAction(parse =>
        {
            var (config, policy) = Load(parse);
            var report = new PolicyTestRunner(Evaluator()).Run(policy, config.Policy.Read<PolicyConfig>().Tests);
            foreach (var result in report.Cases)
                output.WriteLine($"{(result.Passed ? "PASS" : "FAIL")} {result.Describe()}");
            output.WriteLine($"{report.Passed} passed, {report.Failed} failed");
            return report.Failed == 0 ? 0 : 1;
        });
        return command;
    }

    private static Command Evaluate(TextWriter output)
    {
        var request = new Option<FileInfo?>("--request")
        {
            Description = "A JSON file {\"principal\": {\"subject\", \"groups\"}, \"action\": {\"protocol\", \"connection\", ...}}, the body " +
                          "POST /policy/evaluate takes; instead of the options below."
        };
        var subject = new Option<string?>("--subject") { Description = "Who acts (the token's sub)." };
        var groups = new Option<string[]>("--group") { Description = "A group of the principal; repeat for more.", Arity = ArgumentArity.ZeroOrMore };
        var protocol = new Option<string?>("--protocol") { Description = "http, sql, exec or mcp." };
        protocol.AcceptOnlyFromAmong(Protocols.Http, Protocols.Sql, Protocols.Exec, Protocols.Mcp);
        var connection = new Option<string?>("--connection") { Description = "The connection acted on." };
        var method = new Option<string?>("--method") { Description = "http: the method." };
        var path = new Option<string?>("--path") { Description = "http: the path." };
        var query = new Option<string?>("--query") { Description = "http: the query string." };
        var sql = new Option<string?>("--sql") { Description = "sql: the statement." };
        var parameters = new Option<string?>("--parameters") { Description = "sql: the parameters as a JSON array." };
        var shell = new Option<string?>("--command") { Description = "exec: the command line." };
        var tool = new Option<string?>("--tool") { Description = "mcp: the upstream tool's name." };
        var arguments = new Option<string?>("--arguments") { Description = "mcp: the tool's arguments as a JSON object." };
        Option[] actionOptions = [subject, groups, protocol, connection, method, path, query, sql, parameters, shell, tool, arguments];
        var command = new Command("evaluate", "Decides one action with the file's policy, as POST /policy/evaluate does with the version " +
                                              "in force: prints the decision, the rules that matched and what the action was parsed into, " +
                                              "as JSON. Nothing is recorded or run. Exit code 0 whatever the decision.") { request };
        foreach (var option in actionOptions) command.Options.Add(option);
        command.SetAction(parse =>
        {
            EvaluatePrincipal principal;
            AgentAction action;
            if (parse.GetValue(request) is { } file)
            {
                if (actionOptions.Any(o => parse.GetResult(o) is { Implicit: false }))
                    throw new UsageException("Give either --request or the action's options, not both.");
                (principal, action) = ReadRequest(file);
            }
            else
            {
                if (parse.GetValue(protocol) is not { } kind || parse.GetValue(connection) is not { Length: > 0 } name)
                    throw new UsageException("Give --protocol and --connection (and the action's fields), or --request <file>.");
                principal = new EvaluatePrincipal(parse.GetValue(subject), parse.GetValue(groups) ?? []);
                action = new AgentAction(kind, name, parse.GetValue(method), parse.GetValue(path), parse.GetValue(query),
                    parse.GetValue(sql), parse.GetValue(shell), parse.GetValue(parameters), parse.GetValue(tool), parse.GetValue(arguments));
            }
            var (_, policy) = Load(parse);
            output.WriteLine(JsonSerializer.Serialize(EvaluateApi.DryRun(Evaluator(), policy, principal, action), Json));
            return 0;
        });
        return command;
    }

    private static (EvaluatePrincipal, AgentAction) ReadRequest(FileInfo file)
    {
        if (!file.Exists) throw new UsageException($"The request file '{file.FullName}' does not exist.");
        EvaluateRequest? body;
        try
        {
            using var stream = file.OpenRead();
            body = JsonSerializer.Deserialize<EvaluateRequest>(stream, Json);
        }
        catch (JsonException ex)
        {
            throw new UsageException($"{file.Name}: not a request ({ex.Message}).");
        }
        if (body?.Action is not { Connection.Length: > 0 } action
            || action.Protocol is not (Protocols.Http or Protocols.Sql or Protocols.Exec or Protocols.Mcp))
            throw new UsageException($"{file.Name}: give \"action\": {{\"protocol\": \"http|sql|exec|mcp\", \"connection\": \"...\", ...}} " +
                                     "and a \"principal\": {\"subject\", \"groups\"}.");
        return (body.Principal ?? new EvaluatePrincipal(null, []), action);
    }

    private static Command Simulate(TextWriter output, TextWriter error)
    {
        var from = new Option<DateTimeOffset>("--from") { Description = "First decision time included (ISO 8601).", Required = true };
        var to = new Option<DateTimeOffset?>("--to") { Description = "Decision time excluded (ISO 8601). Default: now." };
        var connection = new Option<string?>("--connection") { Description = "Only actions on this connection." };
        var subject = new Option<string?>("--subject") { Description = "Only actions of this subject." };
        var progressEvery = new Option<int?>("--progress-every")
        {
            Description = "A progress line on standard error every this many recorded actions read (default: the service's, 500).",
        };
        progressEvery.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1 or > Apis.SimulateApi.MaxProgressEvery)
                result.AddError($"--progress-every is between 1 and {Apis.SimulateApi.MaxProgressEvery}.");
        });
        var url = new Option<string>("--url") { Description = "The policy service.", DefaultValueFactory = _ => "http://127.0.0.1:5101" };
        url.Validators.Add(result =>
        {
            if (!Uri.TryCreate(result.GetValueOrDefault<string>(), UriKind.Absolute, out var given) || given.Scheme is not ("http" or "https"))
                result.AddError("--url must be an absolute http(s) URL, such as http://127.0.0.1:5101.");
        });
        var command = new Command("simulate", "Sends the file's policy section to POST /policy/simulate of a running policy service, with " +
                                              "the bearer token in PORTCULLIS_TOKEN (an admin who is also an auditor): the changes and the " +
                                              "summary on standard output as JSON Lines, progress on standard error. Exit code 1 when the " +
                                              "simulation was refused or cut short (no summary).") { from, to, connection, subject, progressEvery, url };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var token = Environment.GetEnvironmentVariable("PORTCULLIS_TOKEN") is { Length: > 0 } set ? set
                : throw new UsageException("Set PORTCULLIS_TOKEN to an admin's (and auditor's) bearer token.");
            var (config, _) = Load(parse);
            var yaml = config.Policy.Read<PolicyConfig>().ToYaml();
            var service = parse.GetValue(url)!;
            using var client = new HttpClient { BaseAddress = new Uri(service.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
            using var request = new HttpRequestMessage(HttpMethod.Post, "policy/simulate")
            {
                Content = JsonContent.Create(new
                {
                    yaml, from = parse.GetValue(from), to = parse.GetValue(to) ?? DateTimeOffset.UtcNow,
                    connection = parse.GetValue(connection), subject = parse.GetValue(subject),
                    progressEvery = parse.GetValue(progressEvery),
                }),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                error.WriteLine($"The policy service at {service} could not be reached ({ex.Message}); check --url.");
                return 1;
            }
            using (response)
            {
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
                if (!response.IsSuccessStatusCode)
                {
                    error.WriteLine($"The policy service refused the simulation ({(int)response.StatusCode}): {await reader.ReadToEndAsync(cancellationToken)}");
                    return 1;
                }
                var summary = false;
                while (await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    var type = LineType(line);
                    (type == "progress" ? error : output).WriteLine(line);
                    summary |= type == "summary";
                }
                if (!summary) error.WriteLine("The simulation was cut short: no summary line came.");
                return summary ? 0 : 1;
            }
        });
        return command;
    }

    private static string? LineType(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            return document.RootElement.TryGetProperty("type", out var type) ? type.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static (PortcullisConfig Config, CompiledPolicy Policy) Load(ParseResult parse)
    {
        var file = parse.GetValue(File)!;
        if (!System.IO.File.Exists(file))
            throw new UsageException($"The policy file '{Path.GetFullPath(file)}' does not exist; give --file <portcullis.yaml>.");
        var config = PortcullisConfigLoader.Load(file);
        return (config, CompiledPolicy.From(config));
    }

    private static PolicyEvaluator Evaluator() => new(new SqlStatementAnalyzer(), new ShellCommandAnalyzer(), TimeProvider.System);

    /// <summary>What the caller got wrong (exit code 2), as opposed to a policy that is not valid (1).</summary>
    private sealed class UsageException(string message) : Exception(message);
}
