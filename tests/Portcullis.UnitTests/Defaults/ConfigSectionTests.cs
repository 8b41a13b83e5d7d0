using Portcullis.Defaults.Configuration;
using Portcullis.Masking.Rules;
using Portcullis.Policy.Rules;

namespace Portcullis.UnitTests.Defaults;

/// <summary>portcullis.yaml: the shared base reads the connections; each service reads its own section into its own model.</summary>
public class ConfigSectionTests
{
    private const string Yaml = """
        connections:
          crm: { upstream: 'http://crm/' }
        policy:
          default_effect: allow
          rules:
            - { id: no-admin, effect: deny, match: { paths: ['/admin/**'] } }
        masking:
          detectors: [email]
          rules:
            - { id: emails, connections: [crm], columns: ['public.customers.email'], strategy: hash }
        """;

    [Fact]
    public void Each_service_reads_its_own_section_of_the_file()
    {
        var config = PortcullisConfigLoader.Parse(Yaml);

        var policy = config.Policy.Read<PolicyConfig>();
        var masking = config.Masking.Read<MaskingConfig>();

        Assert.Equal(["crm"], config.Connections.Keys);
        Assert.Equal("allow", policy.DefaultEffect);
        Assert.Equal("no-admin", Assert.Single(policy.Rules).Id);
        Assert.Equal(["email"], masking.Detectors);
        Assert.Equal("hash", Assert.Single(masking.Rules).Strategy);
    }

    [Fact]
    public void The_masked_columns_are_read_from_the_masking_section_without_its_other_keys()
    {
        var rules = MaskedColumnRules.From(PortcullisConfigLoader.Parse(Yaml));

        var masked = MaskedColumns.For(rules, "crm");

        Assert.Equal("public.customers.email", masked.Find("public", "customers", "email"));
        Assert.True(MaskedColumns.For(rules, "billing").IsEmpty);
    }

    [Fact]
    public void A_misspelt_key_in_a_section_is_an_error_that_names_its_line()
    {
        var config = PortcullisConfigLoader.Parse(Yaml.Replace("strategy: hash", "stratgy: hash"), "compose.yaml");

        var error = Assert.Throws<InvalidOperationException>(() => config.Masking.Read<MaskingConfig>());

        Assert.StartsWith("compose.yaml: line 10,", error.Message);
    }

    [Fact]
    public void An_absent_section_reads_as_its_defaults()
    {
        var config = PortcullisConfigLoader.Parse("connections: {}\n");

        Assert.Equal("deny", config.Policy.Read<PolicyConfig>().DefaultEffect);
        Assert.Equal(["all"], config.Masking.Read<MaskingConfig>().Detectors);
        Assert.Empty(MaskedColumnRules.From(config).Rules);
    }

    [Fact]
    public void The_file_policy_section_has_the_canonical_form_of_the_same_policy_sent_alone()
    {
        var fromFile = PortcullisConfigLoader.Parse(Yaml).Policy.Read<PolicyConfig>().ToYaml();
        var alone = PolicyConfig.Parse("default_effect: allow\nrules:\n  - { id: no-admin, effect: deny, match: { paths: ['/admin/**'] } }\n").ToYaml();

        Assert.Equal(alone, fromFile);
    }

    [Fact]
    public void An_unknown_section_of_the_file_is_an_error()
    {
        var error = Assert.Throws<InvalidOperationException>(() => PortcullisConfigLoader.Parse("polcy:\n  rules: []\n"));

        Assert.Contains("line 1", error.Message);
    }
}
