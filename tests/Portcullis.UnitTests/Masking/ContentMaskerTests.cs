using System.Text;
using System.Text.Json;
using Portcullis.Contracts;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking;
using Portcullis.Masking.Values;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;

namespace Portcullis.UnitTests.Masking;

public class ContentMaskerTests
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("test-hmac-key-0123456789");

    private static ContentMasker Masker(Action<MaskingConfig>? configure = null)
    {
        var config = new MaskingConfig();
        configure?.Invoke(config);
        return new ContentMasker(MaskingPolicy.From(config, Key));
    }

    private static (string Output, MaskingTally Tally) Mask(ContentMasker masker, string contentType, string body, string connection = "demo")
    {
        var tally = new MaskingTally();
        var output = masker.Mask(connection, contentType, Encoding.UTF8.GetBytes(body), tally);
        return (Encoding.UTF8.GetString(output), tally);
    }

    [Fact]
    public void Masks_detected_values_in_json_and_keeps_the_document_shape()
    {
        var (output, tally) = Mask(Masker(), "application/json; charset=utf-8",
            """{"id":1,"email":"ada.lovelace@example.com","notes":"cc grace@example.org, key AKIAIOSFODNN7EXAMPLE","score":1.50,"ok":true,"tags":null}""");

        var root = JsonDocument.Parse(output).RootElement;
        Assert.Equal("[EMAIL]", root.GetProperty("email").GetString());
        Assert.Equal("cc [EMAIL], key [AWS_ACCESS_KEY]", root.GetProperty("notes").GetString());
        Assert.Equal("1.50", root.GetProperty("score").GetRawText());
        Assert.True(root.GetProperty("ok").GetBoolean());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("tags").ValueKind);
        Assert.Equal(2, tally.Counts["EMAIL"]);
        Assert.Equal(1, tally.Rules["detector:aws_access_key"]);
    }

    [Fact]
    public void Masks_a_card_number_stored_as_a_json_number()
    {
        var (output, _) = Mask(Masker(), "application/json", """{"card":4111111111111111,"amount":12.5}""");
        Assert.Equal("""{"card":"[CARD]","amount":12.5}""", output);
    }

    [Fact]
    public void Masks_emails_used_as_property_names_and_escaped_in_strings()
    {
        Assert.Equal("""{"owners":{"[EMAIL]":"admin"}}""", Mask(Masker(), "application/json", """{"owners":{"ada@example.com":"admin"}}""").Output);
        Assert.Equal("""{"e":"[EMAIL]"}""", Mask(Masker(), "application/json", """{"e":"ada\u0040example.com"}""").Output);
    }

    [Fact]
    public void Json_path_rules_mask_whole_values_whatever_they_hold()
    {
        var masker = Masker(c => c.Rules.Add(new MaskingRuleConfig
        {
            Id = "customer-names", JsonPaths = ["$.customers[*].name", "$..secret_note"], Entity = "NAME",
        }));
        var (output, tally) = Mask(masker, "application/json",
            """{"customers":[{"name":"Ada Lovelace","city":"London"},{"name":"Grace Hopper"}],"meta":{"deep":{"secret_note":{"a":1}}}}""");
        Assert.Equal("""{"customers":[{"name":"[NAME]","city":"London"},{"name":"[NAME]"}],"meta":{"deep":{"secret_note":"[NAME]"}}}""", output);
        Assert.Equal(3, tally.Rules["rule:customer-names"]);
    }

    [Fact]
    public void Column_rules_follow_the_origin_of_sql_result_columns_through_aliases()
    {
        var masker = Masker(c => c.Rules.Add(new MaskingRuleConfig
        {
            Id = "customer-names", Connections = ["warehouse"], Columns = ["demo.customers.name"], Strategy = "partial", Keep = 3,
        }));
        const string results = """{"results":[{"columns":[{"name":"id","origin":"demo.customers.id"},{"name":"who","origin":"demo.customers.name"}],"rows":[[1,"Ada Lovelace"],[2,"Alan Turing"]],"rowCount":2,"truncated":false}]}""";
        var (output, _) = Mask(masker, MaskingMediaTypes.SqlResults, results, "warehouse");
        var rows = JsonDocument.Parse(output).RootElement.GetProperty("results")[0].GetProperty("rows");
        Assert.Equal(1, rows[0][0].GetInt32());
        Assert.Equal("*********ace", rows[0][1].GetString());
        Assert.Equal("********ing", rows[1][1].GetString());

        // Not on another connection, and not for plain JSON of the same shape.
        Assert.Contains("Ada Lovelace", Mask(masker, MaskingMediaTypes.SqlResults, results, "elsewhere").Output);
        Assert.Contains("Ada Lovelace", Mask(masker, "application/json", results, "warehouse").Output);
    }

    [Fact]
    public void Keyed_hashes_keep_equal_values_equal_and_differ_by_key()
    {
        var masker = Masker(c => c.Strategies["EMAIL"] = "hash");
        var (output, _) = Mask(masker, "text/plain", "ada@example.com ada@example.com grace@example.com");
        var tags = output.Split(' ');
        Assert.Equal(tags[0], tags[1]);
        Assert.NotEqual(tags[0], tags[2]);
        Assert.StartsWith("[EMAIL:", tags[0]);
        Assert.DoesNotContain("example", output);

        var otherKey = new ContentMasker(MaskingPolicy.From(new MaskingConfig { Strategies = { ["EMAIL"] = "hash" } }, Encoding.UTF8.GetBytes("another-key")));
        Assert.NotEqual(tags[0], Mask(otherKey, "text/plain", "ada@example.com").Output);
    }

    [Fact]
    public void The_null_strategy_removes_the_value()
    {
        var masker = Masker(c => c.Strategies["CARD"] = "null");
        Assert.Equal("""{"card":null,"n":"4"}""", Mask(masker, "application/json", """{"card":"4111 1111 1111 1111","n":"4"}""").Output);
    }

    [Fact]
    public void Response_headers_are_masked_by_name_rule_and_by_detector()
    {
        var masker = Masker(c => c.Rules.Add(new MaskingRuleConfig { Id = "cookies", Headers = ["set-cookie", "X-Session-*"], Entity = "COOKIE" }));
        var tally = new MaskingTally();
        var masked = masker.MaskHeaders("demo", new Dictionary<string, string[]>
        {
            ["Set-Cookie"] = ["a=1", "b=2"],
            ["X-Session-Key"] = ["abc"],
            ["X-Owner"] = ["ada@example.com"],
            ["Cache-Control"] = ["no-store"],
        }, tally);
        Assert.Equal(["[COOKIE]", "[COOKIE]"], masked["Set-Cookie"]);
        Assert.Equal(["[COOKIE]"], masked["X-Session-Key"]);
        Assert.Equal(["[EMAIL]"], masked["X-Owner"]);
        Assert.Equal(["no-store"], masked["Cache-Control"]);
        Assert.Equal(3, tally.Rules["rule:cookies"]);
    }

    [Fact]
    public void A_connection_can_name_its_own_detectors()
    {
        var masker = Masker(c => c.ByConnection["crm"] = new ConnectionMaskingConfig { Detectors = ["email"] });
        const string text = "ada@example.com 4111111111111111";
        Assert.Equal("[EMAIL] 4111111111111111", Mask(masker, "text/plain", text, "crm").Output);
        Assert.Equal("[EMAIL] [CARD]", Mask(masker, "text/plain", text, "ops").Output);
    }

    [Fact]
    public void Hashing_without_a_key_is_refused_at_start_up()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            MaskingPolicy.From(new MaskingConfig { Strategies = { ["EMAIL"] = "hash" } }, hashKey: null));
        Assert.Contains("hash_key", error.Message);
    }

    [Fact]
    public void Invalid_json_is_still_masked_as_text_and_text_and_csv_are_masked()
    {
        Assert.Equal("""{"email":"[EMAIL]", oops""", Mask(Masker(), "application/json", """{"email":"ada@example.com", oops""").Output);
        Assert.Equal("1,Ada,[EMAIL],[CARD]\n", Mask(Masker(), "text/csv", "1,Ada,ada@example.com,4111111111111111\n").Output);
    }

    [Fact]
    public void Refuses_content_it_cannot_inspect()
    {
        Assert.Throws<UnmaskableContentException>(() => Masker().Mask("demo", "application/octet-stream", [1, 2, 3], new MaskingTally()));
    }

    [Fact]
    public void Json_is_copied_through_as_written_and_only_masked_tokens_change()
    {
        // Whitespace, escapes and number forms stay byte for byte; the masked value is the only change.
        const string json = "{ \"name\" : \"Zo\u00eb\",\n  \"email\":\"ada@example.com\", \"n\": 1.50e3, \"x\": \"a\\\"b\" }";
        var (output, tally) = Mask(Masker(), "application/json", json);
        Assert.Equal(json.Replace("ada@example.com", "[EMAIL]"), output);
        Assert.Equal(1, tally.Counts["EMAIL"]);
    }

    [Fact]
    public void Non_ascii_text_around_values_is_masked_and_kept()
    {
        var (output, _) = Mask(Masker(), "application/json", """{"note":"Zoë — ada@example.com ☎ +31 6 1234 5678 «ok»"}""");
        Assert.Equal("""{"note":"Zoë — [EMAIL] ☎ [PHONE] «ok»"}""", output);
    }

    [Fact]
    public void Json_with_comments_is_masked_as_text_rather_than_passed_through_unread()
    {
        var (output, tally) = Mask(Masker(), "application/json", "{\"a\": 1 /* password=Hunter2Hunter2x */}");
        Assert.DoesNotContain("Hunter2", output);
        Assert.Equal("{\"a\": 1 /* password=[CONNECTION_STRING_PASSWORD] */}", output);
        Assert.Equal(1, tally.Counts.Values.Sum());
    }

    [Fact]
    public void A_masked_value_that_needs_escaping_is_written_as_valid_json()
    {
        var (output, _) = Mask(Masker(c => c.Strategies["email"] = "partial"), "application/json", """{"e":"x\"y ada@example.com\\"}""");
        Assert.Equal("x\"y ***********.com\\", JsonDocument.Parse(output).RootElement.GetProperty("e").GetString());
    }

    [Fact]
    public void A_value_found_in_its_normalised_form_is_masked_in_the_original_text()
    {
        var (output, tally) = Mask(Masker(), "text/plain", "Zoë: \u0430da\uff20ex\u200bample.com, card 4111\u00a01111.1111_1111 ok");
        Assert.Equal("Zoë: [EMAIL], card [CARD] ok", output);
        Assert.Equal(1, tally.Counts["EMAIL"]);
        Assert.Equal(1, tally.Counts["CARD"]);
    }

    [Fact]
    public void Sql_result_columns_are_masked_by_their_names_whatever_the_values_look_like()
    {
        const string results = """{"results":[{"columns":[{"name":"id","origin":null},{"name":"pwd","origin":null},{"name":"user_ssn","origin":null},{"name":"version","origin":null}],"rows":[[1,"x","123456789","1.2.3.4"],[2,"hunter2","078051120","10.1.2.3"]],"rowCount":2,"truncated":false}]}""";
        var (output, tally) = Mask(Masker(), MaskingMediaTypes.SqlResults, results, "warehouse");
        var rows = JsonDocument.Parse(output).RootElement.GetProperty("results")[0].GetProperty("rows");
        Assert.Equal(1, rows[0][0].GetInt32());
        Assert.Equal("[SECRET_ASSIGNMENT]", rows[0][1].GetString());
        Assert.Equal("[SSN]", rows[1][2].GetString());
        Assert.Equal("1.2.3.4", rows[0][3].GetString()); // under a column named version: not an address
        Assert.Equal(2, tally.Counts["SECRET_ASSIGNMENT"]);
        Assert.Equal(2, tally.Counts["SSN"]);
    }

    [Fact]
    public void Sql_result_columns_are_masked_by_the_name_of_their_origin_whatever_the_query_called_them()
    {
        // SELECT secret AS note, password AS version FROM ...: an alias does not unmask what its origin names.
        const string results = """{"results":[{"columns":[{"name":"id","origin":"demo.api_keys.id"},{"name":"note","origin":"demo.api_keys.secret"},{"name":"version","origin":"auth.users.password"}],"rows":[[1,"c8e15e1e6b580e73ed6431abf3a4f7ce06a23c6e","hunter2"]],"rowCount":1,"truncated":false}]}""";
        var (output, tally) = Mask(Masker(), MaskingMediaTypes.SqlResults, results, "warehouse");
        var row = JsonDocument.Parse(output).RootElement.GetProperty("results")[0].GetProperty("rows")[0];
        Assert.Equal(1, row[0].GetInt32());
        Assert.Equal("[SECRET_ASSIGNMENT]", row[1].GetString());
        Assert.Equal("[SECRET_ASSIGNMENT]", row[2].GetString());
        Assert.Equal(2, tally.Counts["SECRET_ASSIGNMENT"]);
    }

    [Fact]
    public void Headers_are_masked_by_what_their_names_say()
    {
        var tally = new MaskingTally();
        var masked = Masker().MaskHeaders("demo", new Dictionary<string, string[]>
        {
            ["Set-Cookie"] = ["session=4f1d2c9a8b7e6d5c; HttpOnly"],
            ["X-Api-Key"] = ["abc"],
            ["X-App-Version"] = ["1.2.3.4"],
            ["Content-Type"] = ["application/json"],
        }, tally);
        Assert.Equal(["[COOKIE]"], masked["Set-Cookie"]);
        Assert.Equal(["[SECRET_ASSIGNMENT]"], masked["X-Api-Key"]);
        Assert.Equal(["1.2.3.4"], masked["X-App-Version"]);
        Assert.Equal(["application/json"], masked["Content-Type"]);
    }

    [Fact]
    public void A_base64_run_that_hides_a_value_is_masked_whole_and_a_hash_is_kept()
    {
        var hidden = Convert.ToBase64String(Encoding.UTF8.GetBytes("card 4111 1111 1111 1111"));
        const string hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        var (output, tally) = Mask(Masker(), "application/json", $$"""{"blob":"{{hidden}}","sha256":"{{hash}}"}""");
        Assert.Equal($$"""{"blob":"[CARD]","sha256":"{{hash}}"}""", output);
        Assert.Equal(1, tally.Counts["CARD"]);
    }

    [Fact]
    public void Unknown_detectors_in_configuration_are_an_error()
    {
        var error = Assert.Throws<InvalidOperationException>(() => MaskingPolicy.From(new MaskingConfig { Detectors = ["emial"] }, null));
        Assert.Contains("emial", error.Message);
    }
}

public class StreamingMaskerTests
{
    private static readonly ContentMasker Masker = new(MaskingPolicy.From(new MaskingConfig
    {
        Rules = { new MaskingRuleConfig { Id = "secret-blocks", JsonPaths = ["$..vault"], Entity = "VAULT" } },
    }, null));

    private static string Stream(string contentType, string input, int chunkSize, MaskingTally? tally = null)
    {
        var output = new MemoryStream();
        Masker.Mask("demo", contentType, new MemoryStream(Encoding.UTF8.GetBytes(input)), output, tally ?? new MaskingTally(), chunkSize);
        return Encoding.UTF8.GetString(output.ToArray());
    }

    [Theory]
    [InlineData(7)]
    [InlineData(64)]
    [InlineData(4096)]
    public void Json_is_masked_the_same_whatever_the_chunk_size(int chunkSize)
    {
        var items = string.Join(",", Enumerable.Range(0, 200).Select(i =>
            $$"""{"id":{{i}},"email":"user{{i}}@example.com","card":"4111 1111 1111 1111","vault":{"k":[1,2,{"x":"ada@example.com"}]},"note":"ok"}"""));
        var json = $$"""{"items":[{{items}}]}""";
        var tally = new MaskingTally();
        var masked = Stream("application/json", json, chunkSize, tally);

        Assert.Equal(Stream("application/json", json, 1 << 20), masked);
        Assert.DoesNotContain("@example.com", masked);
        Assert.DoesNotContain("4111", masked);
        Assert.Equal(200, tally.Counts["EMAIL"]);
        Assert.Equal(200, tally.Rules["rule:secret-blocks"]);
        var first = JsonDocument.Parse(masked).RootElement.GetProperty("items")[0];
        Assert.Equal("[VAULT]", first.GetProperty("vault").GetString());
        Assert.Equal("ok", first.GetProperty("note").GetString());
    }

    [Fact]
    public void A_value_split_across_two_text_chunks_is_still_caught()
    {
        // With 1000-character reads the masker first cuts at 8808 (two overlaps gathered, one held back), then
        // every 9000: at 17808, inside the email (17800..17824), and at 26808, inside the key (26800..26820).
        var before = new string('x', 17799);
        var between = new string('y', 26800 - 17799 - " ada.lovelace@example.com ".Length);
        var after = new string('z', 20000);
        var text = before + " ada.lovelace@example.com " + between + "AKIAIOSFODNN7EXAMPLE " + after;
        Assert.Equal(17800, text.IndexOf("ada.lovelace", StringComparison.Ordinal));
        Assert.Equal(26800, text.IndexOf("AKIA", StringComparison.Ordinal));
        foreach (var chunk in new[] { 1000, TextStreamMasker.Overlap, 333 })
        {
            var masked = Stream("text/plain", text, chunk);
            Assert.Equal(before + " [EMAIL] " + between + "[AWS_ACCESS_KEY] " + after, masked);
        }
    }

    /// <summary>Masks <paramref name="input"/> written in pieces of the given sizes (cycled), as the masking service does for chunks.</summary>
    private static string InPieces(string contentType, string input, int[] sizes, MaskingTally tally)
    {
        var output = new MemoryStream();
        var bytes = Encoding.UTF8.GetBytes(input);
        using var run = Masker.Begin("demo", contentType, output, tally);
        for (int at = 0, i = 0; at < bytes.Length; i++)
        {
            var size = Math.Min(sizes[i % sizes.Length], bytes.Length - at);
            run.Write(bytes.AsSpan(at, size));
            at += size;
        }
        run.Complete();
        return Encoding.UTF8.GetString(output.ToArray());
    }

    [Theory]
    [InlineData(new[] { 1 })]
    [InlineData(new[] { 3, 7, 1, 64 })]
    [InlineData(new[] { 5000 })]
    public void Json_written_in_pieces_is_masked_as_if_whole_with_a_value_cut_between_pieces(int[] sizes)
    {
        var items = string.Join(",", Enumerable.Range(0, 50).Select(i =>
            $$"""{"id":{{i}},"email":"user{{i}}@example.com","note":"Zoë ☎ +31 6 1234 {{i:0000}}","vault":{"k":[1,{"x":"ada@example.com"}]""" + "}}"));
        var json = $$"""{"items":[{{items}}]}""";
        var (whole, pieces) = (new MaskingTally(), new MaskingTally());
        var expected = Stream("application/json", json, 1 << 20, whole);
        Assert.Equal(expected, InPieces("application/json", json, sizes, pieces));
        Assert.Equal(whole.Counts, pieces.Counts);
        Assert.Equal(50, pieces.Counts["EMAIL"]);
        Assert.Equal(50, pieces.Counts["PHONE"]);
    }

    [Theory]
    [InlineData(new[] { 1 })]
    [InlineData(new[] { 1000, 17, 9000 })]
    public void Text_written_in_pieces_is_masked_as_if_whole(int[] sizes)
    {
        var text = string.Concat(Enumerable.Range(0, 400).Select(i => $"{i},Zoë,user{i}@example.com,AKIAIOSFODNN7EXAMPLE\n"));
        var (whole, pieces) = (new MaskingTally(), new MaskingTally());
        Assert.Equal(Stream("text/csv", text, 1 << 20, whole), InPieces("text/csv", text, sizes, pieces));
        Assert.Equal(400, pieces.Counts["EMAIL"]);
        Assert.Equal(400, pieces.Counts["AWS_ACCESS_KEY"]);
    }

    [Fact]
    public void Each_piece_is_written_out_as_far_as_it_could_be_masked()
    {
        // A piece ending inside a value holds that value back; the next piece completes and writes it.
        var output = new MemoryStream();
        using var run = Masker.Begin("demo", "application/json", output, new MaskingTally());
        run.Write(Encoding.UTF8.GetBytes("""[{"e":"ada@exam"""));
        // The name is held too: a value may be split between a name and what follows it.
        Assert.Equal("""[{""", Encoding.UTF8.GetString(output.ToArray()));
        run.Write(Encoding.UTF8.GetBytes("""ple.com"},"""));
        Assert.Equal("""[{"e":"[EMAIL]"}""", Encoding.UTF8.GetString(output.ToArray())); // what follows the last token goes with the next
        run.Write(Encoding.UTF8.GetBytes("""1]"""));
        run.Complete();
        Assert.Equal("""[{"e":"[EMAIL]"},1]""", Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void Invalid_json_in_a_stream_is_refused_not_passed_through()
    {
        Assert.ThrowsAny<JsonException>(() => Stream("application/json", """{"email":"ada@example.com", oops""", 8));
        Assert.ThrowsAny<JsonException>(() => Stream("application/json", """{"email":"ada@example.com" """, 8));
    }
}
