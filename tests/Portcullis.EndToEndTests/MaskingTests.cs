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
    public async Task A_column_named_secret_stays_masked_under_an_alias()
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", "e2e-masking-sql");
        request.Content = JsonContent.Create(new { sql = "SELECT secret AS note, secret AS version FROM demo.api_keys ORDER BY id LIMIT 2" });
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        foreach (var row in JsonDocument.Parse(body).RootElement.GetProperty("results")[0].GetProperty("rows").EnumerateArray())
        {
            Assert.Equal("[SECRET_ASSIGNMENT]", row[0].GetString());
            Assert.Equal("[SECRET_ASSIGNMENT]", row[1].GetString());
        }
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

    [Fact]
    public async Task Disguised_values_in_an_http_answer_come_back_masked_and_versions_stay()
    {
        var session = "e2e-masking-disguised-" + Guid.NewGuid().ToString("N")[..8];
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/disguised", session);
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var answer = JsonDocument.Parse(body).RootElement;
        Assert.Equal("[EMAIL]", answer.GetProperty("contact").GetString()); // full-width at sign
        Assert.Equal("[EMAIL]", answer.GetProperty("backup_contact").GetString()); // [at] and [dot]
        Assert.Equal("[EMAIL]", answer.GetProperty("invisible").GetString()); // zero-width space, soft hyphen
        Assert.Equal("[CARD]", answer.GetProperty("card").GetString()); // dots between the groups
        Assert.Equal("[CARD]", answer.GetProperty("card_number").GetString()); // by its name
        Assert.Equal("[CARD]", answer.GetProperty("amount").GetString()); // a float that writes a card number
        Assert.Equal("[PHONE]", answer.GetProperty("phone").GetString());
        Assert.Equal("[PHONE]", answer.GetProperty("whatsapp_e164").GetString()); // E.164 as a JSON number
        Assert.Equal("[SECRET_ASSIGNMENT]", answer.GetProperty("pwd").GetString()); // short, but named a password
        Assert.Equal("[AWS_SECRET_KEY]", answer.GetProperty("aws_secret_access_key_prod").GetString());
        Assert.Equal("https://hooks.slack.com[WEBHOOK_URL]", answer.GetProperty("alert_hook").GetString());
        Assert.Equal("SSN [SSN], call [PHONE]", answer.GetProperty("note").GetString());
        Assert.Equal("[CARD]", answer.GetProperty("blob").GetString()); // base64 of a card number
        Assert.Equal("1.2.3.4", answer.GetProperty("version").GetString());
        Assert.Equal("release 2.1.0.7", answer.GetProperty("build").GetString());
        Assert.Equal("[EMAIL]", Assert.Single(response.Headers.GetValues("X-Contact-Alt"))); // grace%40example.org
        foreach (var raw in new[] { "example.com", "example.org", "4111", "12 34 56", "wJalr", "T024BE7LD", "123456789", "555.0123" })
            Assert.DoesNotContain(raw, body);

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));
        var record = timeline.GetRawText();
        foreach (var raw in new[] { "example.com", "4111.1111", "wJalr", "T024BE7LD" })
            Assert.DoesNotContain(raw, record);
    }

    [Fact]
    public async Task Values_in_escapes_and_byte_encodings_come_back_masked_through_the_gateway()
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/escaped", "e2e-masking-escaped");
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var answer = JsonDocument.Parse(body).RootElement;
        // \u0040, \x40, \u{40}, %u0040, %25252540, 0x hex, UTF-16 in base64, hex with colons, base64 wrapped at 76.
        foreach (var field in new[] { "backslash_u", "backslash_x", "braced", "percent_u", "percent_thrice", "hex_literal", "utf16_base64",
                     "separated_hex", "wrapped_base64" })
            Assert.Contains("[EMAIL]", answer.GetProperty(field).GetString());
        Assert.Equal("nothing to hide here", answer.GetProperty("plain").GetString());
        foreach (var raw in new[] { "example", "0040", "x40", "2540", "6164614065", "YQBkAGEAQABlAHgA", "61:64:61:40" })
            Assert.DoesNotContain(raw, body);
    }

    [Fact]
    public async Task Values_spelled_out_backwards_or_split_across_fields_come_back_masked_and_their_neighbours_stay()
    {
        var session = "e2e-masking-spelled-" + Guid.NewGuid().ToString("N")[..8];
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/spelled", session);
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var answer = JsonDocument.Parse(body).RootElement;
        foreach (var field in new[] { "quoted_printable", "base32", "short_base64", "letters", "backwards", "left", "right" })
            Assert.Contains("[EMAIL]", answer.GetProperty(field).GetString());
        Assert.All(answer.GetProperty("card_parts").EnumerateArray(), part => Assert.Equal("[CARD]", part.GetString()));
        Assert.Equal("Ada", answer.GetProperty("first_name").GetString());
        Assert.Equal("London", answer.GetProperty("city").GetString());
        foreach (var raw in new[] { "exam", "ple.com", "e x a m", "elpmaxe", "=40", "4111", "1111" })
            Assert.DoesNotContain(raw, body);

        var timeline = await stack.TimelineAsync(session, t => t.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == "RequestCompleted"));
        var record = timeline.GetRawText();
        foreach (var raw in new[] { "ada@exam", "ple.com", "elpmaxe", "4111 1111" })
            Assert.DoesNotContain(raw, record);
    }

    [Fact]
    public async Task Values_in_other_escapes_groupings_and_spellings_come_back_masked_through_the_gateway()
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/disguised-more", "e2e-masking-disguised-more");
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var answer = JsonDocument.Parse(body).RootElement;
        // CSS (short and six digits), HTML decimal without ';', SQL CHR, octal, a comment, a quoted local part, a domain literal.
        foreach (var field in new[] { "css", "css_wide", "html_decimal", "sql_chr", "octal", "comment", "quoted", "literal" })
            Assert.Contains("[EMAIL]", answer.GetProperty(field).GetString());
        // Digits as words, Arabic-Indic digits, a card across a line break, Amex 4-6-5.
        foreach (var field in new[] { "words", "arabic_indic", "card_wrapped", "amex" })
            Assert.Contains("[CARD]", answer.GetProperty(field).GetString());
        Assert.Contains("[IBAN]", answer.GetProperty("iban_lower").GetString());
        Assert.Equal("London", answer.GetProperty("city").GetString());
        foreach (var raw in new[] { "example", "ada", "\\61", "&#97", "CHR(97)", "\\141", "192.0.2.1", "four one", "\u0661\u0661", "4111", "1111",
                     "3782", "822463", "gb82", "west", "mple.com" })
            Assert.DoesNotContain(raw, body);
    }

    /// <summary>The first row of a statement's result through /sql/warehouse (200 asserted), as strings, and the whole answer.</summary>
    private async Task<(string[] Row, string Body)> SqlRowAsync(string session, string sql)
    {
        using var request = await stack.AgentRequest(HttpMethod.Post, "sql/warehouse", session);
        request.Content = JsonContent.Create(new { sql });
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var row = JsonDocument.Parse(body).RootElement.GetProperty("results")[0].GetProperty("rows")[0];
        return ([.. row.EnumerateArray().Select(value => value.GetString() ?? "(null)")], body);
    }

    [Fact]
    public async Task Values_in_other_escapes_and_spellings_in_a_sql_result_come_back_masked()
    {
        var (row, body) = await SqlRowAsync("e2e-masking-sql-disguised-more",
            "SELECT '\\61 da@example.com' AS css, 'ada&#64example&#46com' AS html, 'ada(work)@example.com' AS comment, "
            + "'four one one one one one one one one one one one one one one one' AS words, 'gb82 west 1234 5698 7654 32' AS iban, "
            + "'=61=64=61=40=65=78=61=6D=70=6C=65=2E=63=6F=6D' AS qp, 'London' AS city");
        Assert.Equal(["[EMAIL]", "[EMAIL]", "[EMAIL]", "[CARD]", "[IBAN]", "[EMAIL]", "London"], row);
        foreach (var raw in new[] { "example", "ada", "four", "gb82", "=61" })
            Assert.DoesNotContain(raw, body);
    }

    [Theory]
    [InlineData("split.csv", "id,name,card")]
    [InlineData("split.html", "<p>Customer 1: ")]
    public async Task Values_split_across_csv_cells_or_html_elements_come_back_masked(string path, string kept)
    {
        using var request = await stack.AgentRequest(HttpMethod.Get, "http/demo/customers/1/" + path, "e2e-masking-split-" + path);
        using var response = await stack.Gateway.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Assert.Contains(kept, body);
        Assert.Contains("[CARD]", body);
        Assert.Contains("[EMAIL]", body);
        foreach (var raw in new[] { "4111", "1111", "ada@", "exam", "example.com" })
            Assert.DoesNotContain(raw, body);
    }

    [Fact]
    public async Task Disguised_values_in_a_sql_result_come_back_masked_by_content_and_by_column_name()
    {
        var (row, body) = await SqlRowAsync("e2e-masking-sql-disguised",
            "SELECT 'ada\uFF20example.com' AS note, 'ada (at) example (dot) com' AS spelled, '4111\u00A01111\u00A01111\u00A01111' AS ref, "
            + "'hunter2' AS pwd, '123456789' AS customer_ssn, '+44 20 7946 0958' AS contact, '1.2.3.4' AS version, 4111111111111111 AS n");
        Assert.Equal(["[EMAIL]", "[EMAIL]", "[CARD]", "[SECRET_ASSIGNMENT]", "[SSN]", "[PHONE]", "1.2.3.4", "[CARD]"], row);
        foreach (var raw in new[] { "example", "hunter2", "123456789", "7946", "4111" })
            Assert.DoesNotContain(raw, body);
    }
}
