using System.Security.Claims;
using System.Text.RegularExpressions;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Policy.Apis;

/// <summary>
/// For admins: accept a changed definition of an upstream MCP tool (one the gateway withholds since it changed after
/// it was pinned). The acceptance is an event in the connection's audit stream, beside the change it answers; the
/// gateway pins the accepted hash and offers the tool again.
/// </summary>
public static partial class McpToolsApi
{
    public static IEndpointRouteBuilder MapMcpToolsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/policy/mcp-tools/accept", Accept).RequireAuthorization(Extensions.AdminPolicy)
            .WithTags("Policy").WithName("AcceptMcpTool").WithSummary("Accept a changed definition of an upstream MCP tool")
            .WithDescription("The gateway withholds a tool whose definition changed since it was pinned; accepting the offered hash " +
                             "records the acceptance in the connection's audit stream and offers the tool again.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Results<Ok<McpToolDefinitionAccepted>, ProblemHttpResult>> Accept(AcceptMcpToolRequest body,
        ClaimsPrincipal user, PortcullisConfig config, IPublishEndpoint bus, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (body.Connection is not { Length: > 0 } connection || body.Tool is not { Length: > 0 } tool || body.Hash is not { } hash
            || !Hash().IsMatch(hash))
            return TypedResults.Problem(statusCode: 400, title: "Bad request",
                detail: "Send {\"connection\": \"<mcp connection>\", \"tool\": \"<upstream tool name>\", \"hash\": \"sha256:<offeredHash of " +
                        "the McpToolDefinitionChanged event>\", \"comment\": \"why\"}.");
        if (!config.Connections.TryGetValue(connection, out var settings) || settings.Kind != McpConnection.Kind)
            return TypedResults.Problem(statusCode: 404, title: "Not an MCP connection",
                detail: $"'{connection}' is not a connection of kind mcp.");
        var accepted = new McpToolDefinitionAccepted(NewId.NextGuid(), McpToolDefinitionAccepted.StreamOf(connection), connection, tool,
            hash, user.FindFirstValue("sub") ?? "unknown", body.Comment, clock.GetUtcNow());
        await bus.Publish(accepted, cancellationToken);
        return TypedResults.Ok(accepted);
    }

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex Hash();
}

public sealed record AcceptMcpToolRequest(string? Connection, string? Tool, string? Hash, string? Comment);
