using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Portcullis.Defaults.Health;

internal sealed class PostgresHealthCheck(string connectionString) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            // The message only: an Npgsql exception's ToString can carry connection details.
            return HealthCheckResult.Unhealthy($"PostgreSQL is not reachable: {ex.Message}");
        }
    }
}
