namespace Portcullis.Masking.Rules;

/// <summary>How outputs are masked: which detectors run, what each entity becomes, and rules by column or JSON path.</summary>
public sealed class MaskingConfig
{
    /// <summary>Detector names (email, card, aws_access_key, ...), or "all".</summary>
    public List<string> Detectors { get; set; } = ["all"];

    /// <summary>redact ([EMAIL]), partial (keep the last characters), hash (keyed HMAC) or null.</summary>
    public string DefaultStrategy { get; set; } = "redact";

    /// <summary>A strategy per entity, e.g. EMAIL: hash, CARD: partial.</summary>
    public Dictionary<string, string> Strategies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How many characters partial keeps.</summary>
    public int Keep { get; set; } = 4;

    /// <summary>The HMAC key for the hash strategy (a secret reference); required when any strategy is hash.</summary>
    public string? HashKey { get; set; }

    public List<MaskingRuleConfig> Rules { get; set; } = [];

    /// <summary>Per connection: the detectors that run on its outputs, instead of <see cref="Detectors"/>.</summary>
    public Dictionary<string, ConnectionMaskingConfig> ByConnection { get; set; } = new(StringComparer.Ordinal);
}

public sealed class ConnectionMaskingConfig
{
    public List<string> Detectors { get; set; } = [];
}

/// <summary>Masks whole values by where they stand, whatever they hold: SQL result columns by origin, JSON by path.</summary>
public sealed class MaskingRuleConfig
{
    public string Id { get; set; } = "";

    /// <summary>Connections the rule applies to; empty: all.</summary>
    public List<string> Connections { get; set; } = [];

    /// <summary>SQL result columns by origin, "schema.table.column", with '*' wildcards ("demo.*.email").</summary>
    public List<string> Columns { get; set; } = [];

    /// <summary>JSON paths: $.a.b, $.items[*].card, $..email (any depth), $.a.*.</summary>
    public List<string> JsonPaths { get; set; } = [];

    /// <summary>HTTP response headers by name, '*' wildcards, case-insensitive ("Set-Cookie", "X-Debug-*").</summary>
    public List<string> Headers { get; set; } = [];

    public string Strategy { get; set; } = "redact";
    public int? Keep { get; set; }

    /// <summary>The tag of masked values and the entity they are counted under; default MASKED.</summary>
    public string Entity { get; set; } = "MASKED";
}
