using System.Security.Claims;
using ModelContextProtocol.Protocol;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Configuration;
using Portcullis.Gateway.Connectors.Mcp;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// The resources, resource templates and prompts of the upstream MCP servers as the gateway lists them, for callers
/// the connection is visible to: a resource's URI as <c>{connection}+{uri}</c> (a template's too), a prompt's name as
/// <c>{connection}.{prompt}</c>; not those a deny rule of portcullis.yaml refuses the caller whatever else. An upstream
/// that cannot list them in time is left out (and logged), not allowed to hold the whole list up.
/// </summary>
public sealed class McpProxiedResources(McpUpstreams upstreams, PortcullisConfig config, ILogger<McpProxiedResources> logger)
{
    private readonly ToolDenyRules _denyRules = config.Policy.ReadPart<ToolDenyRules>();

    /// <summary>The connection and upstream URI a listed resource URI stands for, or null when it names no MCP connection's.</summary>
    public (string Connection, string Uri)? SplitUri(string listed)
    {
        var at = listed.IndexOf(McpConnection.ResourceSeparator);
        if (at <= 0 || at == listed.Length - 1) return null;
        var connection = listed[..at];
        return upstreams.Has(connection) ? (connection, listed[(at + 1)..]) : null;
    }

    /// <summary>The connection and upstream prompt a listed prompt name stands for, or null.</summary>
    public (string Connection, string Prompt)? SplitPrompt(string listed)
    {
        var at = listed.IndexOf(McpConnection.ToolSeparator);
        if (at <= 0 || at == listed.Length - 1) return null;
        var connection = listed[..at];
        return upstreams.Has(connection) ? (connection, listed[(at + 1)..]) : null;
    }

    public Task<IList<Resource>> ResourcesAsync(ClaimsPrincipal? user, IEnumerable<string> visible, CancellationToken cancellationToken) =>
        ListAsync(user, visible, "resources", (upstream, token) => upstream.ResourcesAsync(token),
            (principal, connection, resource) => Hidden(principal, connection, "resources", glob => ToolDenyRules.PathGlob(glob, resource.Uri)),
            (connection, resource) => new Resource
            {
                Uri = McpConnection.ListedUri(connection, resource.Uri),
                Name = $"{connection}{McpConnection.ToolSeparator}{resource.Name}",
                Title = resource.Title,
                Description = McpToolOffer.Description(resource.Description),
                MimeType = resource.MimeType,
                Annotations = resource.Annotations,
                Size = resource.Size,
            }, cancellationToken);

    public Task<IList<ResourceTemplate>> ResourceTemplatesAsync(ClaimsPrincipal? user, IEnumerable<string> visible,
        CancellationToken cancellationToken) =>
        // A template stands for many URIs: each read is judged when it is made.
        ListAsync(user, visible, "resource templates", (upstream, token) => upstream.ResourceTemplatesAsync(token), (_, _, _) => false,
            (connection, template) => new ResourceTemplate
            {
                UriTemplate = McpConnection.ListedUri(connection, template.UriTemplate),
                Name = $"{connection}{McpConnection.ToolSeparator}{template.Name}",
                Title = template.Title,
                Description = McpToolOffer.Description(template.Description),
                MimeType = template.MimeType,
                Annotations = template.Annotations,
            }, cancellationToken);

    public Task<IList<Prompt>> PromptsAsync(ClaimsPrincipal? user, IEnumerable<string> visible, CancellationToken cancellationToken) =>
        ListAsync(user, visible, "prompts", (upstream, token) => upstream.PromptsAsync(token),
            (principal, connection, prompt) => Hidden(principal, connection, "prompts",
                glob => ToolDenyRules.Glob(glob, prompt.Name) || ToolDenyRules.Glob(glob, $"{connection}{McpConnection.ToolSeparator}{prompt.Name}")),
            (connection, prompt) => new Prompt
            {
                Name = $"{connection}{McpConnection.ToolSeparator}{prompt.Name}",
                Title = prompt.Title,
                Description = McpToolOffer.Description(prompt.Description),
                Arguments = prompt.Arguments,
            }, cancellationToken);

    private bool Hidden(Contracts.Principal? principal, string connection, string section, Func<string, bool> named) =>
        principal is not null && _denyRules.Hides(principal, connection, section, named);

    private async Task<IList<T>> ListAsync<T>(ClaimsPrincipal? user, IEnumerable<string> visible, string what,
        Func<McpUpstream, CancellationToken, Task<IReadOnlyList<T>>> list, Func<Contracts.Principal?, string, T, bool> hidden,
        Func<string, T, T> listed, CancellationToken cancellationToken)
    {
        var principal = user?.Identity?.IsAuthenticated == true ? user.ToPrincipal() : null;
        var lists = await Task.WhenAll(visible.Where(upstreams.Has).Select(async connection =>
        {
            try
            {
                return (await list(upstreams[connection], cancellationToken))
                    .Where(item => !hidden(principal, connection, item)).Select(item => listed(connection, item)).ToArray();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("MCP connection {Connection}: its {What} could not be listed ({Reason}); left out of the list",
                    connection, what, ex.GetType().Name);
                return [];
            }
        }));
        return [.. lists.SelectMany(items => items)];
    }
}
