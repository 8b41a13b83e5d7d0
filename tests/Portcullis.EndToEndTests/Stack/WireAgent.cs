using Npgsql;

namespace Portcullis.EndToEndTests.Stack;

/// <summary>An agent's Npgsql connection to the gateway's PostgreSQL port: the access token as password, TLS required.</summary>
public static class WireAgent
{
    public static async Task<NpgsqlConnection> ConnectAsync(PortcullisStack stack, string session, string database = "warehouse",
        string? password = null)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = stack.WirePort,
            Database = database,
            Username = "agent",
            Password = password ?? await stack.TokenFor(PortcullisStack.AgentClient),
            SslMode = SslMode.Require,
            Options = $"-c portcullis.session={session}",
            Pooling = false,
        };
        // Npgsql's type loading reads the whole pg_type catalog on connect, which the connection's max_rows cuts short:
        // the built-in type mappings are enough for an agent.
        var source = new NpgsqlDataSourceBuilder(builder.ConnectionString);
        source.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
        return await source.Build().OpenConnectionAsync();
    }
}
