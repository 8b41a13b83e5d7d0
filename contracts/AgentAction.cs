namespace Portcullis.Contracts;

/// <summary>
/// What an agent attempts, as the gateway received it. Protocol is one of <see cref="Protocols"/>;
/// only the fields of that protocol are set. <see cref="Parameters"/> holds a SQL statement's parameters ($1, $2, ...)
/// as canonical JSON (an array, compact), so policy and the audit see the values that run, not only the text.
/// </summary>
public sealed record AgentAction(
    string Protocol,
    string Connection,
    string? Method = null,
    string? Path = null,
    string? Query = null,
    string? Sql = null,
    string? Command = null,
    string? Parameters = null);
