using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// A database error can quote a value the statement read (<c>invalid input syntax for type integer: "..."</c>), and
/// masking reads an error text as plain text, where a value that looks like nothing in particular passes: the
/// gateway withholds the values a data or integrity error quotes, and keeps what says how to fix the statement.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class SqlErrorValueTests(PortcullisStack stack)
{
    [Theory]
    [InlineData("SELECT owner::int FROM demo.api_keys ORDER BY id LIMIT 1", "SELECT owner FROM demo.api_keys ORDER BY id LIMIT 1")]
    [InlineData("SELECT key_id::numeric FROM demo.api_keys ORDER BY id LIMIT 1", "SELECT key_id FROM demo.api_keys ORDER BY id LIMIT 1")]
    [InlineData("SELECT (SELECT owner FROM demo.api_keys ORDER BY id LIMIT 1)::timestamptz", "SELECT owner FROM demo.api_keys ORDER BY id LIMIT 1")]
    public async Task A_value_in_a_database_error_is_withheld(string sql, string valueQuery)
    {
        string value;
        await using (var connection = new NpgsqlConnection(stack.AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(valueQuery, connection);
            value = (string)(await command.ExecuteScalarAsync())!;
        }

        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", "e2e-sql-error-" + Guid.NewGuid().ToString("N")[..10]);
        request.Content = JsonContent.Create(new { sql });
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal("22", problem.GetProperty("sqlstate").GetString()![..2]);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.Contains("invalid input syntax", detail);
        Assert.Contains("(value withheld)", detail);
        Assert.DoesNotContain(value, body, StringComparison.OrdinalIgnoreCase);
    }
}
