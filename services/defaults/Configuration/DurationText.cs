namespace Portcullis.Defaults.Configuration;

/// <summary>Durations as people write them in YAML: "500ms", "5s", "2m", "1h".</summary>
public static class DurationText
{
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        var (unit, factor) = text.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 1.0)
            : text.EndsWith('s') ? ("s", 1000.0)
            : text.EndsWith('m') ? ("m", 60_000.0)
            : text.EndsWith('h') ? ("h", 3_600_000.0)
            : ("", 0.0);
        if (factor == 0 || !double.TryParse(text[..^unit.Length], System.Globalization.NumberStyles.Float,
                System.Globalization.CultureInfo.InvariantCulture, out var value) || value <= 0)
            return false;
        duration = TimeSpan.FromMilliseconds(value * factor);
        return true;
    }
}
