using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Defaults.Secrets;
using Portcullis.Gateway.Connectors.Mcp;
using Portcullis.Gateway.RequestFlow;

namespace Portcullis.Gateway.Apis;

/// <summary>
/// A proxied MCP tool call as one agent action (protocol <c>mcp</c>, the connection, the upstream tool's name and its
/// arguments): policy, approval, the call to the upstream MCP server, masking of the whole result (text, structured
/// content, embedded resources), audit. The output is the <see cref="CallToolResult"/> as JSON, masked like any JSON
/// body, so masking rules reach into it by JSON path (<c>$.structuredContent.email</c>).
/// </summary>
public static class McpProxyApi
{
    /// <summary>The argument the gateway reads itself (to claim an approval) and never forwards.</summary>
    public const string ApprovalIdArgument = "approval_id";

    private static readonly ConnectorEndpoint Endpoint = new(
        ex => ex is McpException or IOException or HttpRequestException or TimeoutException or SecretNotFoundException
            or InvalidOperationException or JsonException or System.ComponentModel.Win32Exception
            // The pinned definitions cannot be read: the tool cannot be shown to be the accepted one, so it does not run.
            or Npgsql.NpgsqlException
            ? $"{ex.GetType().Name}: {ex.Message}" : null,
        "MCP server failed", "The MCP server of connection '{0}' could not be reached, did not answer in time or answered " +
        "something that is not a valid MCP result; nothing it may have said is passed on.",
        // Cut off for what it sent: the gateway's own words, which say why.
        ex => ex is McpCutOffException ? ex.Message : null);

    public static async Task Run(string connection, string tool, IDictionary<string, JsonElement> arguments, HttpContext context,
        AgentRequestFlow flow, McpUpstreams upstreams, McpToolPins pins, ILogger logger, IProgress<ProgressNotificationValue>? progress = null)
    {
        var forwarded = arguments.Where(a => a.Key != ApprovalIdArgument).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
        var action = new AgentAction(Protocols.Mcp, connection, Tool: tool,
            Arguments: JsonSerializer.Serialize(forwarded, McpJsonUtilities.DefaultOptions));
        await ConnectorApi.RunAsync(context, flow, Endpoint, action, () => upstreams.Describe(connection), async (request, target) =>
        {
            var upstream = upstreams[connection];
            // A tool whose definition changed since it was pinned is withheld until an admin accepts the new one.
            // Only a tool the gateway would list: a valid name, offered once (see McpToolOffer).
            var definition = McpToolOffer.Sift(await upstream.ToolsAsync(context.RequestAborted), connection).Offered.FirstOrDefault(t => t.Name == tool);
            if (definition is null)
                return ConnectorApi.Problem(context, 404, "mcp-tool-unknown", "No such tool",
                    $"The MCP server of connection '{connection}' offers no tool '{tool}' now; nothing was run.", [], target);
            if ((await pins.CheckAsync(connection, [definition], context.RequestAborted)).GetValueOrDefault(tool) is { } withheld)
                return ConnectorApi.Problem(context, 409, "mcp-tool-withheld", "Tool withheld", withheld, [], target);

            if (McpToolOffer.ArgumentProblem(definition.InputSchema, forwarded) is { } problem)
                return ConnectorApi.Problem(context, 400, "mcp-arguments-invalid", "Arguments do not fit the tool",
                    $"The arguments do not fit the input schema of '{tool}': {problem} Nothing was sent to the MCP server.", [], target);
            if (await MaskedViewRefusalAsync(context, connection, request.Obligations.Relations) is { } refusal)
                return ConnectorApi.Problem(context, 403, "masked-view", "Refused: a view over a masked column", refusal, [], target);
            var result = await upstream.CallAsync(tool, forwarded.ToDictionary(a => a.Key, a => (object?)a.Value), context.RequestAborted,
                progress);
            return Output(context, connection, JsonSerializer.SerializeToUtf8Bytes(WithoutUnmaskable(result), McpJsonUtilities.DefaultOptions),
                target);
        }, logger);
    }

    /// <summary>
    /// Why an SQL argument's relations (the policy names them when the connection has masked columns) may not be read:
    /// a view over a masked column, found in the catalogue of the connection's <c>catalogue</c> (a postgres connection
    /// on the same database), as /sql finds it; or no catalogue to look in. The upstream's rows name no origin, so a
    /// view's columns would come back past the column rules.
    /// </summary>
    private static async Task<string?> MaskedViewRefusalAsync(HttpContext context, string connection, IReadOnlyList<string>? relations)
    {
        if (relations is not { Count: > 0 }) return null;
        var config = context.RequestServices.GetRequiredService<Portcullis.Defaults.Configuration.PortcullisConfig>();
        if (config.Connections[connection].Catalogue is not { } catalogue
            || !config.Connections.TryGetValue(catalogue, out var database) || database.Kind != "postgres")
            return $"The statement reads {string.Join(", ", relations)}, and connection '{connection}' names no postgres connection " +
                   "as its catalogue to rule out views over masked columns there; nothing was run.";
        return await context.RequestServices.GetRequiredService<Connectors.Postgres.PostgresConnector>()
            .MaskedViewRefusalAsync(catalogue, connection, relations, context.RequestAborted);
    }

    /// <summary>
    /// A resource read as one agent action (protocol <c>mcp</c>, the connection, the upstream URI): policy, approval, the
    /// read, masking of every content (a binary one decoded to text when it is text, else withheld), audit. The output
    /// is the <see cref="ReadResourceResult"/> as JSON, its contents' URIs as the gateway lists them.
    /// </summary>
    public static Task ReadResource(string connection, string uri, HttpContext context, AgentRequestFlow flow,
        McpUpstreams upstreams, ILogger logger) =>
        ConnectorApi.RunAsync(context, flow, Endpoint, new AgentAction(Protocols.Mcp, connection, Resource: uri),
            () => upstreams.Describe(connection), async (_, target) =>
            {
                var result = await upstreams[connection].ReadResourceAsync(uri, context.RequestAborted);
                var contents = result.Contents.Select(content => Readable(connection, content)).ToList();
                return Output(context, connection,
                    JsonSerializer.SerializeToUtf8Bytes(new ReadResourceResult { Contents = contents }, McpJsonUtilities.DefaultOptions), target);
            }, logger);

    /// <summary>
    /// A prompt get as one agent action (protocol <c>mcp</c>, the connection, the upstream prompt's name, its arguments):
    /// policy, approval, the get, masking of every message, audit.
    /// </summary>
    public static Task GetPrompt(string connection, string prompt, IDictionary<string, JsonElement> arguments, HttpContext context,
        AgentRequestFlow flow, McpUpstreams upstreams, ILogger logger)
    {
        var forwarded = arguments.Where(a => a.Key != ApprovalIdArgument).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
        var action = new AgentAction(Protocols.Mcp, connection, Prompt: prompt,
            Arguments: JsonSerializer.Serialize(forwarded, McpJsonUtilities.DefaultOptions));
        return ConnectorApi.RunAsync(context, flow, Endpoint, action, () => upstreams.Describe(connection), async (_, target) =>
        {
            var result = await upstreams[connection].GetPromptAsync(prompt,
                forwarded.ToDictionary(a => a.Key, a => (object?)a.Value), context.RequestAborted);
            var messages = result.Messages.Select(message => new PromptMessage { Role = message.Role, Content = Maskable(message.Content) }).ToList();
            return Output(context, connection,
                JsonSerializer.SerializeToUtf8Bytes(new GetPromptResult { Description = result.Description, Messages = messages },
                    McpJsonUtilities.DefaultOptions), target);
        }, logger);
    }

    /// <summary>
    /// The upstream's answer as the output to mask and return, or, when it is larger than the gateway masks and returns
    /// (<see cref="GatewayOptions.MaxResponseBytes"/>, as for HTTP connections), a failure that withholds all of it.
    /// </summary>
    private static ConnectorOutput Output(HttpContext context, string connection, byte[] body, string target)
    {
        var limit = context.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxResponseBytes;
        return body.Length <= limit
            ? new ConnectorOutput(200, "application/json", body, target)
            : ConnectorApi.Problem(context, 502, "mcp-result-too-large", "MCP result too large",
                $"The MCP server of connection '{connection}' answered {body.Length} bytes, more than the {limit} the gateway masks " +
                "and returns; it is withheld.", [], target);
    }

    /// <summary>
    /// What a resource read or embedded resource says, in a form masking can read: text as it is; a binary content
    /// decoded when it is UTF-8 text (detectors then see it), else withheld. Its URI as the gateway lists it.
    /// </summary>
    private static ResourceContents Readable(string? connection, ResourceContents content)
    {
        var uri = connection is null ? content.Uri : McpConnection.ListedUri(connection, content.Uri);
        return content switch
        {
            TextResourceContents text => new TextResourceContents { Uri = uri, MimeType = text.MimeType, Text = text.Text },
            BlobResourceContents blob when AsText(blob) is { } decoded => new TextResourceContents { Uri = uri, MimeType = blob.MimeType, Text = decoded },
            _ => new TextResourceContents { Uri = uri, MimeType = "text/plain", Text = WithheldText("binary resource") },
        };
    }

    /// <summary>The blob's bytes as text when they are strict UTF-8 without control characters other than white space.</summary>
    private static string? AsText(BlobResourceContents blob)
    {
        try
        {
            var text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(blob.DecodedData.Span);
            return text.Any(c => char.IsControl(c) && c is not ('\n' or '\r' or '\t')) ? null : text;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static ContentBlock Maskable(ContentBlock block) => block switch
    {
        ImageContentBlock or AudioContentBlock => Withheld(block.Type),
        EmbeddedResourceBlock embedded => new EmbeddedResourceBlock { Resource = Readable(null, embedded.Resource) },
        _ => block,
    };

    /// <summary>
    /// The result with what masking cannot read (images, audio, binary resources) replaced by a note: a detector
    /// cannot see into base64, and nothing unmasked leaves the gateway.
    /// </summary>
    private static CallToolResult WithoutUnmaskable(CallToolResult result)
    {
        var content = result.Content.Select(Maskable).ToList();
        return new CallToolResult { Content = content, StructuredContent = result.StructuredContent, IsError = result.IsError };
    }

    private static TextContentBlock Withheld(string what) => new() { Text = WithheldText(what) };

    private static string WithheldText(string what) => $"[{what} content withheld by the gateway: it cannot be masked]";
}
