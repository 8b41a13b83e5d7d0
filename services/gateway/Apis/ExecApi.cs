using System.Text.Json;
using Portcullis.Contracts;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.Connectors.Ssh;
using Portcullis.Gateway.RequestFlow;
using Renci.SshNet.Common;

namespace Portcullis.Gateway.Apis;

/// <summary>POST /exec/{connection} {"command": "..."}: exit code, stdout and stderr, masked.</summary>
public static class ExecApi
{
    public const string Usage = "Send {\"command\": \"...\"}.";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly ConnectorEndpoint Endpoint = new(
        ex => ex is SshException or System.Net.Sockets.SocketException or SecretNotFoundException or InvalidOperationException
            or TimeoutException ? $"{ex.GetType().Name}: {ex.Message}" : null,
        "Host unavailable", "The host of connection '{0}' could not be reached or was not the pinned host; nothing was run.");

    public static async Task Run(string connection, ExecRequest? body, HttpContext context, AgentRequestFlow flow,
        SshConnector ssh, AgentResponses responses, ILogger<SshConnector> logger)
    {
        if (await responses.RefusedAsync(context, ssh.Has(connection), connection, "ssh", body?.Command, Usage)) return;
        var action = new AgentAction(Protocols.Exec, connection, Command: body!.Command);
        await ConnectorApi.RunAsync(context, flow, Endpoint, action, () => ssh.Describe(connection), async (request, target) =>
        {
            var result = await ssh.ExecuteAsync(connection, body.Command!, request.Obligations.MaxOutputBytes, context.RequestAborted);
            return new ConnectorOutput(200, "application/json", JsonSerializer.SerializeToUtf8Bytes(result, Json), target);
        }, logger);
    }
}

public sealed record ExecRequest(string? Command);
