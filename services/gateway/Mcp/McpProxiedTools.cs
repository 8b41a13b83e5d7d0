using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Configuration;
using Portcullis.Gateway.Apis;
using Portcullis.Gateway.Connectors.Mcp;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// The tools of the upstream MCP servers (connections of kind <c>mcp</c>) as the gateway lists them: each under
/// <c>{connection}.{tool}</c> with the upstream's title, description and input schema (plus <c>approval_id</c>), for
/// callers the connection is visible to; not the tools whose definition changed since it was pinned, nor those a
/// deny rule of portcullis.yaml refuses the caller whatever the arguments. An upstream that cannot list its tools in
/// time is left out of the list (and logged), not allowed to hold the whole list up.
/// </summary>
public sealed class McpProxiedTools
{
    private readonly McpUpstreams upstreams;
    private readonly McpToolPins pins;
    private readonly ToolDenyRules denyRules;
    private readonly ILogger<McpProxiedTools> logger;

    // The gateway's MCP sessions that listed tools: told when an upstream's tools change. A session that is gone
    // fails the send and is forgotten.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ModelContextProtocol.Server.McpServer, byte> _listeners = new();

    public McpProxiedTools(McpUpstreams upstreams, McpToolPins pins, PortcullisConfig config, ILogger<McpProxiedTools> logger)
    {
        (this.upstreams, this.pins, this.denyRules, this.logger) = (upstreams, pins, config.Policy.ReadPart<ToolDenyRules>(), logger);
        upstreams.ToolsChanged += connection => _ = TellListenersAsync(connection);
    }

    /// <summary>Remembers a session that listed the tools, to tell it when an upstream's tools change.</summary>
    public void Listen(ModelContextProtocol.Server.McpServer session) => _listeners.TryAdd(session, 0);

    private async Task TellListenersAsync(string connection)
    {
        foreach (var session in _listeners.Keys)
        {
            try
            {
                using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await session.SendNotificationAsync(NotificationMethods.ToolListChangedNotification, deadline.Token);
            }
            catch (Exception ex)
            {
                _listeners.TryRemove(session, out _);
                logger.LogDebug("MCP session no longer told of tool changes ({Reason})", ex.GetType().Name);
            }
        }
        logger.LogInformation("MCP connection {Connection}: tools changed; {Sessions} sessions told", connection, _listeners.Count);
    }

    /// <summary>The connection and upstream tool a listed name stands for, or null when it names no MCP connection's tool.</summary>
    public (string Connection, string Tool)? Split(string name)
    {
        var at = name.IndexOf(McpConnection.ToolSeparator);
        if (at <= 0 || at == name.Length - 1) return null;
        var connection = name[..at];
        return upstreams.Has(connection) ? (connection, name[(at + 1)..]) : null;
    }

    public async Task<IReadOnlyList<Tool>> ListAsync(ClaimsPrincipal? user, IEnumerable<string> visibleConnections,
        CancellationToken cancellationToken)
    {
        var principal = user?.Identity?.IsAuthenticated == true ? user.ToPrincipal() : null;
        var connections = visibleConnections.Where(upstreams.Has).ToArray();
        var listed = await Task.WhenAll(connections.Select(async connection =>
        {
            try
            {
                var (tools, leftOut) = McpToolOffer.Sift(await upstreams[connection].ToolsAsync(cancellationToken), connection);
                foreach (var reason in leftOut.Take(10))
                    logger.LogWarning("MCP connection {Connection}: a tool is left out of the list: {Reason}", connection, reason);
                var withheld = await pins.CheckAsync(connection, tools, cancellationToken);
                return tools.Where(t => !withheld.ContainsKey(t.Name) && !(principal is not null && HiddenFor(principal, connection, t.Name)))
                    .Select(t => Listed(connection, t)).ToArray();
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("MCP connection {Connection}: its tools could not be listed ({Reason}); left out of the list",
                    connection, ex.GetType().Name);
                return [];
            }
        }));
        return [.. listed.SelectMany(t => t)];
    }

    private static Tool Listed(string connection, Tool upstream) => new()
    {
        Name = $"{connection}{McpConnection.ToolSeparator}{upstream.Name}",
        Title = upstream.Title,
        Description = McpToolOffer.Description(upstream.Description),
        InputSchema = WithApprovalId(upstream.InputSchema),
        Annotations = upstream.Annotations,
        // No output schema: masked values ("[EMAIL]") need not fit the upstream's, and clients check results against it.
    };

    private static JsonElement WithApprovalId(JsonElement schema)
    {
        if (JsonNode.Parse(schema.GetRawText()) is not JsonObject root) return schema;
        if (root["properties"] is not JsonObject properties) root["properties"] = properties = new JsonObject();
        properties[McpProxyApi.ApprovalIdArgument] ??= new JsonObject
        {
            ["type"] = "string",
            ["description"] = "Only when retrying an action that waits for approval: the approval id the earlier call returned.",
        };
        return JsonSerializer.SerializeToElement(root, McpJsonUtilities.DefaultOptions);
    }

    /// <summary>
    /// Whether a deny rule of portcullis.yaml refuses this tool to the caller whatever its arguments (see
    /// <see cref="ToolDenyRules.Hides"/>). Such a tool is not listed; a call is still decided by the policy service.
    /// </summary>
    private bool HiddenFor(Contracts.Principal principal, string connection, string tool) =>
        denyRules.Hides(principal, connection, "tools",
            glob => ToolDenyRules.Glob(glob, tool) || ToolDenyRules.Glob(glob, $"{connection}{McpConnection.ToolSeparator}{tool}"));
}

/// <summary>
/// The part of portcullis.yaml's policy section the gateway reads to leave tools out of its list: each rule's effect
/// and its match conditions as written. The section belongs to the policy service, which checks every key of it.
/// </summary>
internal sealed class ToolDenyRules
{
    public List<Rule> Rules { get; set; } = [];

    /// <summary>
    /// Whether a deny rule refuses the caller every action of one kind (<paramref name="section"/>: tools, resources or
    /// prompts) on a name whatever else: a rule without a budget whose match names nothing but connections, protocols, subjects, groups
    /// and, under <c>mcp:</c>, that kind's names (<paramref name="named"/> tells whether a glob of them matches). A rule
    /// with any other condition leaves the name listed (the action is decided as always).
    /// </summary>
    public bool Hides(Contracts.Principal principal, string connection, string section, Func<string, bool> named) =>
        Rules.Any(rule => rule.Effect == "deny" && rule.Budget is null
            && rule.Match.Keys.All(key => key is "connections" or "protocols" or "subjects" or "groups" or "mcp")
            && rule.Match.GetValueOrDefault("mcp") is IDictionary<object, object> mcp && mcp.Keys.All(key => Equals(key, section))
            && Holds(rule.Match, "protocols", protocol => string.Equals(protocol, Contracts.Protocols.Mcp, StringComparison.OrdinalIgnoreCase))
            && Holds(rule.Match, "connections", name => name == connection)
            && Holds(rule.Match, "subjects", subject => subject == principal.Subject)
            && Holds(rule.Match, "groups", principal.Groups.Contains)
            && Holds(mcp, section, named));

    /// <summary>An absent or empty list holds for anything; otherwise one of its entries must match.</summary>
    private static bool Holds<TKey>(IDictionary<TKey, object> match, TKey key, Func<string, bool> matches) where TKey : notnull =>
        match.TryGetValue(key, out var value) is false || value is not IEnumerable<object> entries || !entries.Any()
        || entries.Any(entry => entry is string text && matches(text));

    /// <summary>A name glob: '*' any characters, '?' one.</summary>
    public static bool Glob(string pattern, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$", RegexOptions.CultureInvariant);

    /// <summary>A path glob as the policy service reads one: '**' across segments, '*' and '?' within one; any casing.</summary>
    public static bool PathGlob(string pattern, string value) =>
        Regex.IsMatch(value, "^" + Regex.Escape(pattern).Replace(@"\*\*", "\0").Replace(@"\*", "[^/]*").Replace(@"\?", "[^/]")
            .Replace("\0", ".*") + "$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

    public sealed class Rule
    {
        public string Effect { get; set; } = "";
        public Dictionary<string, object> Match { get; set; } = [];

        /// <summary>A rule with a budget refuses nothing until the budget is spent, so it never hides a tool.</summary>
        public object? Budget { get; set; }
    }
}
