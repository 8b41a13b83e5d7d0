using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Configuration;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// The gateway's connections as MCP tools: <c>list_connections</c>, and <c>sql_query</c>, <c>http_request</c>,
/// <c>run_command</c> for the kinds of connection the caller may see, with the input schema of each.
/// </summary>
public sealed class McpToolCatalog(PortcullisConfig config)
{
    public const string ListConnections = "list_connections";
    public const string SqlQuery = "sql_query";
    public const string HttpRequest = "http_request";
    public const string RunCommand = "run_command";

    /// <summary>The kind of connection a tool acts on, or null for a tool that acts on none.</summary>
    public static string? KindOf(string tool) =>
        tool switch { SqlQuery => "postgres", HttpRequest => "http", RunCommand => "ssh", _ => null };

    /// <summary>The tool that acts on a kind of connection.</summary>
    public static string? ToolFor(string kind) =>
        kind switch { "postgres" => SqlQuery, "http" => HttpRequest, "ssh" => RunCommand, _ => null };

    /// <summary>The connections <paramref name="user"/> may see, by name.</summary>
    public IReadOnlyDictionary<string, ConnectionConfig> Visible(ClaimsPrincipal? user)
    {
        var groups = user?.Identity?.IsAuthenticated == true ? user.ToPrincipal().Groups : [];
        return config.Connections
            .Where(c => c.Value.VisibleTo.Count == 0 || c.Value.VisibleTo.Any(groups.Contains))
            .OrderBy(c => c.Key, StringComparer.Ordinal)
            .ToDictionary(c => c.Key, c => c.Value, StringComparer.Ordinal);
    }

    public ListToolsResult List(ClaimsPrincipal? user)
    {
        var visible = Visible(user);
        List<Tool> tools =
        [
            Tool(ListConnections, "List connections",
                "Lists the connections you can use through this gateway: their names, kinds (http, postgres, ssh) and what they are for. " +
                "Every action is checked against policy, may need a human's approval, and its output is masked before you see it.",
                new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() }),
        ];
        string[] Of(string kind) => [.. visible.Where(c => c.Value.Kind == kind).Select(c => c.Key)];
        if (Of("postgres") is { Length: > 0 } databases)
            tools.Add(Tool(SqlQuery, "Run a SQL query",
                $"Runs SQL on a PostgreSQL connection ({Describe(visible, databases)}) and returns the rows as JSON with each " +
                "column's origin (schema.table.column). Use $1, $2, ... with 'parameters' for values. Rules may refuse statements " +
                "(for example DDL, COPY ... PROGRAM) or require an approver.",
                Schema(new()
                {
                    ["connection"] = Enum(databases, "The postgres connection to query."),
                    ["sql"] = Text("The SQL to run."),
                    ["parameters"] = new JsonObject { ["type"] = "array", ["description"] = "Values for $1, $2, ... in order." },
                    ["approval_id"] = ApprovalIdProperty(),
                }, "connection", "sql")));
        if (Of("http") is { Length: > 0 } apis)
            tools.Add(Tool(HttpRequest, "Call an HTTP API",
                $"Sends an HTTP request to an API connection ({Describe(visible, apis)}); the gateway adds the API's credentials. " +
                "Returns the status and the (masked) body.",
                Schema(new()
                {
                    ["connection"] = Enum(apis, "The http connection to call."),
                    ["method"] = Enum(["GET", "POST", "PUT", "PATCH", "DELETE"], "The HTTP method."),
                    ["path"] = Text("The path on the API, starting with '/', e.g. /customers/1."),
                    ["query"] = Text("The query string without '?', e.g. limit=10."),
                    ["body"] = Text("The request body (JSON text for JSON APIs)."),
                    ["content_type"] = Text("The body's content type; application/json when omitted."),
                    ["approval_id"] = ApprovalIdProperty(),
                }, "connection", "method", "path")));
        if (Of("ssh") is { Length: > 0 } hosts)
            tools.Add(Tool(RunCommand, "Run a shell command",
                $"Runs a shell command on a host ({Describe(visible, hosts)}) and returns its exit code, stdout and stderr. " +
                "Commands that reach the network or run inline code are usually refused.",
                Schema(new()
                {
                    ["connection"] = Enum(hosts, "The ssh connection (host) to run on."),
                    ["command"] = Text("The command line, as for sh -c."),
                    ["approval_id"] = ApprovalIdProperty(),
                }, "connection", "command")));
        return new ListToolsResult { Tools = tools };
    }

    private static string Describe(IReadOnlyDictionary<string, ConnectionConfig> visible, string[] names) =>
        string.Join("; ", names.Select(n => visible[n].Description is { Length: > 0 } d ? $"'{n}': {d}" : $"'{n}'"));

    private static Tool Tool(string name, string title, string description, JsonObject schema) => new()
    {
        Name = name,
        Title = title,
        Description = description,
        InputSchema = JsonSerializer.SerializeToElement(schema),
    };

    private static JsonObject Schema(Dictionary<string, JsonNode> properties, params string[] required) => new()
    {
        ["type"] = "object",
        ["properties"] = new JsonObject(properties.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)p.Value))),
        ["required"] = new JsonArray([.. required.Select(r => (JsonNode)r)]),
        ["additionalProperties"] = false,
    };

    private static JsonObject Text(string description) => new() { ["type"] = "string", ["description"] = description };

    private static JsonObject Enum(string[] values, string description) => new()
    {
        ["type"] = "string",
        ["enum"] = new JsonArray([.. values.Select(v => (JsonNode)v)]),
        ["description"] = description,
    };

    private static JsonObject ApprovalIdProperty() => Text(
        "Only when retrying an action that waits for approval: the approval id the earlier call returned.");
}
