using Portcullis.Gateway.PostgresWire;

namespace Portcullis.UnitTests.Gateway;

public sealed class WireSettingsTests
{
    [Fact]
    public void A_later_statement_is_judged_with_the_settings_before_it()
    {
        var settings = new WireSettings();
        settings.Succeeded("SET search_path = demo, public");
        settings.Succeeded("SELECT 1");
        Assert.Equal("SET search_path = demo, public\n;\nSELECT upper(ssn) FROM customers", settings.Judged("SELECT upper(ssn) FROM customers"));
        Assert.Equal(["SET search_path = demo, public"], settings.Statements);
    }

    [Fact]
    public void A_setting_made_again_replaces_the_earlier_one_and_reset_forgets_it()
    {
        var settings = new WireSettings();
        settings.Succeeded("SET search_path = demo");
        settings.Succeeded("set TIME ZONE 'UTC'");
        settings.Succeeded("SET SESSION search_path TO public");
        Assert.Equal(["set TIME ZONE 'UTC'", "SET SESSION search_path TO public"], settings.Statements);
        settings.Succeeded("RESET search_path");
        Assert.Equal(["set TIME ZONE 'UTC'"], settings.Statements);
        settings.Succeeded("DISCARD ALL");
        Assert.Empty(settings.Statements);
    }

    [Fact]
    public void Local_and_transaction_settings_end_with_the_statement_and_are_not_kept()
    {
        var settings = new WireSettings();
        settings.Succeeded("SET LOCAL search_path = demo");
        settings.Succeeded("SET TRANSACTION READ WRITE");
        Assert.Empty(settings.Statements);
    }

    [Fact]
    public void Past_the_limit_a_new_setting_is_refused()
    {
        var settings = new WireSettings();
        for (var i = 0; i < WireSettings.MaxSettings; i++) settings.Succeeded($"SET app.x{i} = '1'");
        Assert.NotNull(settings.Refusal("SET app.more = '1'"));
        Assert.Null(settings.Refusal("SET app.x1 = '2'"));
        Assert.Null(settings.Refusal("SELECT 1"));
    }
}
