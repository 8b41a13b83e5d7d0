using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit;
using ModelContextProtocol.Protocol;
using Npgsql;
using Portcullis.Contracts;

namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>
/// Pinned definitions of upstream MCP tools (table <c>gateway.mcp_tool_pins</c>, shared by every gateway instance and
/// kept across restarts). The first definition seen of a tool (the SHA-256 of its name, description and input schema)
/// is pinned and recorded (<see cref="McpToolDefinitionPinned"/>); a different definition offered later is withheld,
/// neither listed (its description could carry instructions to the agent) nor called, and recorded once
/// (<see cref="McpToolDefinitionChanged"/>), until an admin accepts it through the policy API
/// (<see cref="McpToolDefinitionAccepted"/>). What cannot be checked is withheld too.
/// </summary>
public sealed class McpToolPins : IDisposable
{
    private const string CreateTable = """
        CREATE SCHEMA IF NOT EXISTS gateway;
        CREATE TABLE IF NOT EXISTS gateway.mcp_tool_pins (
            connection text NOT NULL,
            tool       text NOT NULL,
            hash       text NOT NULL,
            pinned_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (connection, tool))
        """;

    private const string PinnedOf = "SELECT tool, hash FROM gateway.mcp_tool_pins WHERE connection = $1";
    private const string PinFirst = """
        INSERT INTO gateway.mcp_tool_pins (connection, tool, hash) VALUES ($1, $2, $3)
        ON CONFLICT (connection, tool) DO NOTHING RETURNING hash
        """;
    private const string Accept = """
        INSERT INTO gateway.mcp_tool_pins (connection, tool, hash) VALUES ($1, $2, $3)
        ON CONFLICT (connection, tool) DO UPDATE SET hash = excluded.hash, pinned_at = now()
        """;

    /// <summary>The pin of a tool held at first sight (its description was suspect), before its hash.</summary>
    private const string Flagged = "flagged:";

    private readonly NpgsqlDataSource _database;
    private readonly IBus _bus;
    private readonly TimeProvider _clock;
    private readonly ILogger<McpToolPins> _logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _reported = new(StringComparer.Ordinal);
    private volatile bool _tableReady;

    public McpToolPins(string connectionString, IBus bus, TimeProvider clock, ILogger<McpToolPins> logger)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "portcullis-gateway-mcp-pins" };
        _database = NpgsqlDataSource.Create(builder.ConnectionString);
        (_bus, _clock, _logger) = (bus, clock, logger);
    }

    /// <summary>The SHA-256 of a tool's name, description and input schema, over canonical JSON (keys sorted).</summary>
    public static string HashOf(Tool tool)
    {
        var definition = new JsonObject
        {
            ["name"] = tool.Name,
            ["description"] = tool.Description,
            ["inputSchema"] = JsonNode.Parse(tool.InputSchema.GetRawText()),
        };
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(definition)?.ToJsonString() ?? "null")));
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(Canonical)]),
        null => null,
        _ => JsonNode.Parse(node.ToJsonString()),
    };

    /// <summary>
    /// Checks the tools an upstream offers against their pins, pinning (and recording) those seen for the first time and
    /// recording a changed definition once. Returns, for every withheld tool, why.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> CheckAsync(string connection, IReadOnlyList<Tool> tools,
        CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        var pinned = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var command = _database.CreateCommand(PinnedOf))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = connection });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) pinned[reader.GetString(0)] = reader.GetString(1);
        }
        var withheld = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tool in tools)
        {
            var hash = HashOf(tool);
            if (!pinned.TryGetValue(tool.Name, out var pin))
            {
                // A description that reads like instructions to the agent is held at first sight: its pin is not its
                // hash, so it is withheld until an admin accepts that hash, as for a changed definition.
                var suspicion = McpToolDescriptions.Suspicion(tool);
                var first = suspicion is null ? hash : Flagged + hash;
                await using var command = _database.CreateCommand(PinFirst);
                command.Parameters.Add(new NpgsqlParameter { Value = connection });
                command.Parameters.Add(new NpgsqlParameter { Value = tool.Name });
                command.Parameters.Add(new NpgsqlParameter { Value = first });
                if (await command.ExecuteScalarAsync(cancellationToken) is string)
                {
                    pin = first;
                    if (suspicion is null)
                    {
                        _logger.LogInformation("MCP tool {Connection}.{Tool} pinned at first sight ({Hash})", connection, tool.Name, hash);
                        await _bus.Publish(new McpToolDefinitionPinned(NewId.NextGuid(), McpToolDefinitionAccepted.StreamOf(connection),
                            connection, tool.Name, hash, tool.Description, _clock.GetUtcNow()), cancellationToken);
                    }
                    else
                    {
                        _logger.LogWarning("MCP tool {Connection}.{Tool} held at first sight: its description {Suspicion}", connection, tool.Name, suspicion);
                        _reported.TryAdd($"{connection}\n{tool.Name}\n{hash}", 0);
                        await _bus.Publish(new McpToolDefinitionChanged(NewId.NextGuid(), McpToolDefinitionAccepted.StreamOf(connection),
                            connection, tool.Name, $"{Flagged}{suspicion}", hash, tool.Description, _clock.GetUtcNow()), cancellationToken);
                    }
                }
                else
                {
                    // Another gateway instance pinned it a moment ago: judge by its pin.
                    pin = await PinAsync(connection, tool.Name, cancellationToken);
                }
            }
            if (pin == hash) continue;
            if (pin == Flagged + hash)
            {
                withheld[tool.Name] = $"The MCP server of connection '{connection}' offers tool '{tool.Name}' with a description that " +
                                      $"{McpToolDescriptions.Suspicion(tool) ?? "reads like instructions to the agent"}. The tool is withheld " +
                                      "until an admin accepts its definition; nothing was run.";
                continue;
            }
            withheld[tool.Name] = $"The MCP server of connection '{connection}' now offers tool '{tool.Name}' with a definition " +
                                  "(description or input schema) other than the one pinned when it was first seen. The tool is " +
                                  "withheld until an admin accepts the new definition; nothing was run.";
            if (pin is not null && _reported.TryAdd($"{connection}\n{tool.Name}\n{hash}", 0))
            {
                _logger.LogWarning("MCP tool {Connection}.{Tool} changed its definition ({Pinned} -> {Offered}); withheld until accepted",
                    connection, tool.Name, pin, hash);
                await _bus.Publish(new McpToolDefinitionChanged(NewId.NextGuid(), McpToolDefinitionAccepted.StreamOf(connection),
                    connection, tool.Name, pin, hash, tool.Description, _clock.GetUtcNow()), cancellationToken);
            }
        }
        return withheld;
    }

    /// <summary>Makes <paramref name="hash"/> the pinned definition of the tool (an admin accepted it).</summary>
    public async Task AcceptAsync(string connection, string tool, string hash, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        await using var command = _database.CreateCommand(Accept);
        command.Parameters.Add(new NpgsqlParameter { Value = connection });
        command.Parameters.Add(new NpgsqlParameter { Value = tool });
        command.Parameters.Add(new NpgsqlParameter { Value = hash });
        await command.ExecuteNonQueryAsync(cancellationToken);
        _logger.LogInformation("MCP tool {Connection}.{Tool}: definition {Hash} accepted", connection, tool, hash);
    }

    private async Task<string?> PinAsync(string connection, string tool, CancellationToken cancellationToken)
    {
        await using var command = _database.CreateCommand("SELECT hash FROM gateway.mcp_tool_pins WHERE connection = $1 AND tool = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = connection });
        command.Parameters.Add(new NpgsqlParameter { Value = tool });
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (_tableReady) return;
        await using var command = _database.CreateCommand(CreateTable);
        await command.ExecuteNonQueryAsync(cancellationToken);
        _tableReady = true;
    }

    public void Dispose() => _database.Dispose();
}

/// <summary>An admin accepted a changed tool definition: it becomes the pin.</summary>
public sealed class McpToolDefinitionAcceptedConsumer(McpToolPins pins) : IConsumer<McpToolDefinitionAccepted>
{
    public Task Consume(ConsumeContext<McpToolDefinitionAccepted> context) =>
        pins.AcceptAsync(context.Message.Connection, context.Message.Tool, context.Message.Hash, context.CancellationToken);
}
