using System.Text.Json;
using Portcullis.Contracts;
using Portcullis.Gateway.Problems;
using Portcullis.Gateway.RequestFlow;
using Portcullis.Gateway.Connectors.Ssh;
using Portcullis.Defaults.Secrets;
using Renci.SshNet.Common;

namespace Portcullis.Gateway.Apis;

public static class ExecApi
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IEndpointRouteBuilder MapExecApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/exec/{connection}", Run).RequireAuthorization();
        return app;
    }

    /// <summary>POST /exec/{connection} {"command": "..."}: exit code, stdout and stderr, masked.</summary>
    public static async Task Run(string connection, ExecRequest? body, HttpContext context, AgentRequestFlow flow,
        SshConnector ssh, AgentResponses responses, ILogger<SshConnector> logger)
    {
        if (await responses.RefusedAsync(context, ssh.Has(connection), connection, "ssh", body?.Command,
                "Send {\"command\": \"...\"}.")) return;
        var action = new AgentAction(Protocols.Exec, connection, Command: body!.Command);
        await flow.RunAsync(context, action, async request =>
        {
            var target = ssh.Describe(connection);
            try
            {
                var result = await ssh.ExecuteAsync(connection, body.Command!, request.Obligations.MaxOutputBytes, context.RequestAborted);
                return new ConnectorOutput(200, "application/json", JsonSerializer.SerializeToUtf8Bytes(result, Json), target);
            }
            catch (Exception ex) when (ex is SshException or System.Net.Sockets.SocketException or SecretNotFoundException
                                           or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning("Request {RequestId}: connection {Connection} failed ({Reason}: {Message})",
                    request.RequestId, connection, ex.GetType().Name, ex.Message);
                return new ConnectorOutput(502, "application/problem+json", ProblemDocument.Bytes(context, 502,
                    "upstream-failed", "Host unavailable",
                    $"The host of connection '{connection}' could not be reached or was not the pinned host; nothing was run.", []), target);
            }
        });
    }
}

public sealed record ExecRequest(string? Command);
