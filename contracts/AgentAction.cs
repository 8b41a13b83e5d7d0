using System.Text.Json.Serialization;

namespace Portcullis.Contracts;

/// <summary>
/// What an agent attempts, as the gateway received it. Protocol is one of <see cref="Protocols"/>;
/// only the fields of that protocol are set. <see cref="Parameters"/> holds a SQL statement's parameters ($1, $2, ...)
/// as canonical JSON (an array, compact), so policy and the audit see the values that run, not only the text.
/// <see cref="Tool"/> and <see cref="Arguments"/> are a proxied MCP tool call's upstream tool name and its arguments
/// (compact JSON); absent from the JSON when unset, so the hash chain of events recorded before them still verifies.
/// <see cref="Resource"/> is the upstream URI of a proxied MCP resource read; <see cref="Prompt"/> the upstream name of a
/// proxied MCP prompt (its arguments in <see cref="Arguments"/>). An MCP action sets exactly one of Tool, Resource, Prompt.
/// <see cref="Transaction"/> names the database transaction a SQL statement ran in (the PostgreSQL wire listener's
/// BEGIN ... COMMIT/ROLLBACK, each of which is an action of the session with the same id): its writes took effect only
/// if that transaction's COMMIT action completed. Not part of what an approval covers.
/// </summary>
public sealed record AgentAction(
    string Protocol,
    string Connection,
    string? Method = null,
    string? Path = null,
    string? Query = null,
    string? Sql = null,
    string? Command = null,
    string? Parameters = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Tool = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Arguments = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Resource = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Prompt = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Transaction = null);
