namespace Portcullis.Contracts;

public static class Protocols
{
    public const string Http = "http";
    public const string Sql = "sql";
    public const string Exec = "exec";
    public const string Mcp = "mcp";
}
