namespace Portcullis.Contracts;

/// <summary>
/// What an agent attempts, as the gateway received it. Protocol is one of <see cref="Protocols"/>;
/// only the fields of that protocol are set.
/// </summary>
public sealed record AgentAction(
    string Protocol,
    string Connection,
    string? Method = null,
    string? Path = null,
    string? Query = null,
    string? Sql = null,
    string? Command = null);

public static class Protocols
{
    public const string Http = "http";
    public const string Sql = "sql";
    public const string Exec = "exec";
    public const string Mcp = "mcp";
}
