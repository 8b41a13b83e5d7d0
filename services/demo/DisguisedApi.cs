namespace Portcullis.Demo;

/// <summary>
/// A careless upstream that returns personal data and secrets in disguise (look-alike characters, other
/// separators, names that say what a value is, encodings), for the masking tests and the demo.
/// </summary>
public static class DisguisedApi
{
    public static WebApplication MapDisguisedApi(this WebApplication app)
    {
        app.MapGet("/customers/{id:int}/disguised", (int id, HttpResponse response) =>
        {
            response.Headers["X-Contact-Alt"] = "grace%40example.org";
            var blob = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("card 4111 1111 1111 1111"));
            return Results.Text($$"""
                {"id":{{id}},
                 "contact":"ada\uFF20example.com",
                 "backup_contact":"ada [at] example [dot] com",
                 "invisible":"gr\u200Bace@exa\u00ADmple.org",
                 "card":"4111.1111.1111.1111",
                 "card_number":"4111 1111",
                 "amount":4.111111111111111e15,
                 "phone":"+33 6 12 34 56 78",
                 "whatsapp_e164":33612345678,
                 "pwd":"x",
                 "aws_secret_access_key_prod":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                 "alert_hook":"https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/Xy7aBcD3eFgH1iJkLmNoPqRs",
                 "note":"SSN 123456789, call 415.555.0123",
                 "blob":"{{blob}}",
                 "version":"1.2.3.4",
                 "build":"release 2.1.0.7"}
                """, "application/json");
        });
        return app;
    }
}
