using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>Masking through the running stack: detectors, JSON path and column rules, and the audit record.</summary>
[Collection(StackCollection.Name)]
public sealed class MaskingTests(PortcullisStack stack)
{
    [Fact]
    public async Task A_json_response_with_emails_cards_and_an_aws_key_comes_back_masked_and_the_audit_holds_only_that()
    {
        var session = "e2e-masking-" + Guid.NewGuid().ToString("N")[..8];
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/billing", session);
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var billing = JsonDocument.Parse(body).RootElement;
        Assert.Equal("[EMAIL]", billing.GetProperty("email").GetString());
        Assert.Equal("[CARD]", billing.GetProperty("card").GetString());
        Assert.Equal("[ADDRESS]", billing.GetProperty("billing").GetProperty("address").GetString()); // by JSON path
        Assert.Equal("GB", billing.GetProperty("billing").GetProperty("country").GetString());
        Assert.Equal("deploy with [AWS_ACCESS_KEY], questions to [EMAIL]", billing.GetProperty("notes").GetString());
        foreach (var raw in new[] { "ada.lovelace@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "Analytical Way" })
            Assert.DoesNotContain(raw, body);

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));
        var masked = timeline.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "ResponseMasked").GetProperty("data");
        Assert.Equal(2, masked.GetProperty("countsByEntity").GetProperty("EMAIL").GetInt32());
        Assert.Equal(1, masked.GetProperty("countsByEntity").GetProperty("CARD").GetInt32());
        Assert.Equal(1, masked.GetProperty("countsByRule").GetProperty("rule:billing-address").GetInt32());
        var record = timeline.GetRawText();
        Assert.Contains("[AWS_ACCESS_KEY]", record); // the output the agent saw is in the record, masked
        foreach (var raw in new[] { "ada.lovelace@example.com", "4111 1111 1111 1111", "AKIAIOSFODNN7EXAMPLE", "Analytical Way" })
            Assert.DoesNotContain(raw, record);
    }

    [Fact]
    public async Task A_large_json_response_is_masked_in_chunks_by_one_masking_instance_and_recorded_whole()
    {
        var session = "e2e-masking-chunks-" + Guid.NewGuid().ToString("N")[..8];
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/bulk?count=4000", session);
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.Length > 5 * PortcullisStack.MaskingChunkBytes, $"the output ({body.Length} bytes) spans several chunks");

        var customers = JsonDocument.Parse(body).RootElement;
        Assert.Equal(4000, customers.GetArrayLength());
        foreach (var customer in customers.EnumerateArray())
        {
            Assert.Equal("[EMAIL]", customer.GetProperty("email").GetString());
            Assert.Equal("[CARD]", customer.GetProperty("card").GetString());
            Assert.Equal("call [PHONE]", customer.GetProperty("notes").GetString());
        }
        Assert.DoesNotContain("@example.com", body);
        Assert.Equal("[EMAIL]", response.Headers.GetValues("X-Contact").Single()); // headers are masked when the stream opens

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));
        var masked = timeline.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "ResponseMasked").GetProperty("data");
        Assert.Equal(4001, masked.GetProperty("countsByEntity").GetProperty("EMAIL").GetInt32()); // 4000 in the body, 1 in a header
        Assert.Equal(4000, masked.GetProperty("countsByEntity").GetProperty("CARD").GetInt32());
        Assert.Equal(4000, masked.GetProperty("countsByEntity").GetProperty("PHONE").GetInt32());
        Assert.Equal(body.Length, masked.GetProperty("outputBytes").GetInt64());
    }

    [Fact]
    public async Task A_large_sql_result_is_masked_in_chunks() // warehouse-ro: rows capped at 50,000 in the test stack
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse-ro", "e2e-masking-sql-chunks");
        request.Content = JsonContent.Create(new { sql = "SELECT 'user' || g || '@example.com' AS email, g AS n FROM generate_series(1, 20000) AS g" });
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.Length > 5 * PortcullisStack.MaskingChunkBytes, $"the output ({body.Length} bytes) spans several chunks");
        var rows = JsonDocument.Parse(body).RootElement.GetProperty("results")[0].GetProperty("rows");
        Assert.Equal(20000, rows.GetArrayLength());
        Assert.All(rows.EnumerateArray(), row => Assert.Equal("[EMAIL]", row[0].GetString()));
        Assert.Equal(20000, rows[19999][1].GetInt32());
        Assert.DoesNotContain("@example.com", body);
    }

    [Fact]
    public async Task A_large_output_that_breaks_its_json_partway_is_withheld_not_passed_through()
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/bulk?count=4000&broken=true", "e2e-masking-chunks-broken");
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("could not be masked", body);
        Assert.DoesNotContain("@example.com", body);
    }

    [Fact]
    public async Task Sql_column_rules_hold_through_aliases()
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", "e2e-masking-sql");
        request.Content = JsonContent.Create(new { sql = "SELECT name AS who, email FROM demo.customers WHERE id = 1" });
        using var response = await stack.Gateway.SendAsync(request);
        var result = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("results")[0];
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var row = result.GetProperty("rows")[0];
        Assert.Matches(@"^\*+[a-z]{3}$", row[0].GetString()); // partial: the last 3 characters of the name
        Assert.Equal("[EMAIL]", row[1].GetString());
    }

    [Fact]
    public async Task Upstream_response_headers_are_masked_by_header_rule_and_by_detector()
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/debug", "e2e-masking-headers");
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("[COOKIE]", Assert.Single(response.Headers.GetValues("Set-Cookie")));
        Assert.Equal("[GITHUB_TOKEN]", Assert.Single(response.Headers.GetValues("X-Debug-Token")));
        Assert.Equal("[EMAIL]", Assert.Single(response.Headers.GetValues("X-Contact")));
        Assert.Equal("7", Assert.Single(response.Headers.GetValues("X-Request-Count")));
    }
}
