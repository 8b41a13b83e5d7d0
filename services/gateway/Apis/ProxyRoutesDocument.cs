using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Portcullis.Defaults.OpenApi;

namespace Portcullis.Gateway.Apis;

/// <summary>
/// The gateway's routes that are not route handlers, and so not described by their own metadata: the HTTP proxy
/// (one YARP route per http connection, and the catch-all that answers an unknown connection), the approval status
/// route agents are pointed to, and the MCP endpoint (Streamable HTTP, JSON-RPC inside).
/// </summary>
public sealed class ProxyRoutesDocument : IOpenApiDocumentTransformer
{
    private static readonly HttpMethod[] ProxiedMethods = [HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete];

    public async Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        async Task<OpenApiResponse> Problem(string description) => await OpenApiDefaults.ProblemResponseAsync(document,
            () => context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken), description);

        async Task<OpenApiResponses> AgentAnswers(string success) => new()
        {
            ["200"] = new OpenApiResponse { Description = success },
            ["202"] = await Problem("Held for an approver: the approval id, its status URL and Retry-After; re-send with the approval id once granted."),
            ["400"] = await Problem("The request cannot become an action (a malformed session id, an override header, a path the gateway will not forward)."),
            ["401"] = await Problem("No valid bearer token."),
            ["403"] = await Problem("Refused by policy or by an approver: which rule, why, and whether an approval can be asked for."),
            ["404"] = await Problem("No such connection (or approval)."),
            ["413"] = await Problem("A body too large for the gateway to bind an approval to."),
            ["502"] = await Problem("The upstream could not be reached."),
            ["503"] = await Problem("The gateway cannot decide, mask or record the request now; nothing was sent upstream."),
        };

        var proxy = new OpenApiPathItem
        {
            Summary = "Proxy to an HTTP connection",
            Parameters =
            [
                new OpenApiParameter { Name = "connection", In = ParameterLocation.Path, Required = true,
                    Description = "An http connection of portcullis.yaml.", Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
                new OpenApiParameter { Name = "path", In = ParameterLocation.Path, Required = true,
                    Description = "The rest of the path (and the query), forwarded to the connection's base URL once canonicalised.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
            ],
        };
        foreach (var method in ProxiedMethods)
            proxy.AddOperation(method, new OpenApiOperation
            {
                Tags = new HashSet<OpenApiTagReference> { new("HTTP proxy", document) },
                Summary = $"{method} through an HTTP connection",
                Description = "A catch-all reverse proxy: the request is judged by policy on its canonical method and path (and may " +
                              "be held for an approver), forwarded with the connection's credentials (the agent never holds them), and " +
                              "the upstream's answer returned masked, whatever its status; every step is recorded. Any method is " +
                              "proxied; the common ones are listed.",
                Security = [OpenApiDefaults.BearerRequirement(document)],
                Responses = await AgentAnswers("The upstream's answer, masked (any status and media type the upstream gives)."),
            });

        var status = new OpenApiPathItem();
        status.AddOperation(HttpMethod.Get, new OpenApiOperation
        {
            Tags = new HashSet<OpenApiTagReference> { new("Approvals", document) },
            Summary = "An approval's status",
            Description = "The status URL an agent is given with a 202: proxied to the approval service with the caller's own token, " +
                          "so an agent sees only its own approvals.",
            Parameters =
            [
                new OpenApiParameter { Name = "id", In = ParameterLocation.Path, Required = true,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "uuid" } },
            ],
            Security = [OpenApiDefaults.BearerRequirement(document)],
            Responses = new OpenApiResponses
            {
                ["200"] = new OpenApiResponse { Description = "The approval: state, action, approvers, decision." },
                ["401"] = await Problem("No valid bearer token."),
                ["404"] = await Problem("No approval the caller can see."),
                ["503"] = await Problem("The approval service did not answer; retry later."),
            },
        });

        var mcp = new OpenApiPathItem { Summary = "MCP (Streamable HTTP)" };
        foreach (var (method, what) in new[]
                 {
                     (HttpMethod.Post, "A JSON-RPC message (initialize, tools/list, tools/call...); answered as JSON or an event stream."),
                     (HttpMethod.Get, "The session's event stream of server notifications (tools/list_changed)."),
                     (HttpMethod.Delete, "Ends the MCP session (Mcp-Session-Id)."),
                 })
            mcp.AddOperation(method, new OpenApiOperation
            {
                Tags = new HashSet<OpenApiTagReference> { new("MCP", document) },
                Summary = $"MCP: {method}",
                Description = what + " The tools are the connections (list_connections, sql_query, http_request, run_command) and " +
                              "the upstream MCP servers' tools; each call is one agent action, judged, masked and recorded, and a " +
                              "refused call is a tool error that says why. The MCP session is the audit session.",
                Security = [OpenApiDefaults.BearerRequirement(document)],
                Responses = new OpenApiResponses
                {
                    ["200"] = new OpenApiResponse { Description = "The MCP answer." },
                    ["401"] = await Problem("No valid bearer token; WWW-Authenticate names the protected resource metadata."),
                },
            });

        document.Paths.Add("/http/{connection}/{path}", proxy);
        document.Paths.Add("/approvals/{id}", status);
        document.Paths.Add("/mcp", mcp);
        document.Tags ??= new HashSet<OpenApiTag>();
        foreach (var tag in new[] { "HTTP proxy", "Approvals", "MCP" }) document.Tags.Add(new OpenApiTag { Name = tag });
    }
}
