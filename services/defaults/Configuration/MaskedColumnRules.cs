namespace Portcullis.Defaults.Configuration;

/// <summary>
/// The part of the masking section that the gateway and the policy need before any value exists: which columns
/// each masking rule masks by origin, on which connections. The masking service reads (and checks) the whole
/// section into its own model; this reads only these keys of it.
/// </summary>
public sealed class MaskedColumnRules
{
    public List<Rule> Rules { get; set; } = [];

    public static readonly MaskedColumnRules None = new();

    public static MaskedColumnRules From(PortcullisConfig config) => config.Masking.ReadPart<MaskedColumnRules>();

    public sealed class Rule
    {
        /// <summary>Connections the rule applies to; empty: all.</summary>
        public List<string> Connections { get; set; } = [];

        /// <summary>SQL result columns by origin, "schema.table.column", with '*' wildcards ("demo.*.email").</summary>
        public List<string> Columns { get; set; } = [];
    }
}
