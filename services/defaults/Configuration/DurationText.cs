using System.Globalization;

namespace Portcullis.Defaults.Configuration;

/// <summary>Durations as people write them in YAML: "500ms", "5s", "2m", "1h".</summary>
public static class DurationText
{
    /// <summary>The longest duration accepted: longer is a mistake (or an attack on the arithmetic), not a setting.</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(366);

    /// <summary>
    /// A positive number of plain decimal digits (no sign, exponent, NaN or Infinity) and a unit, up to
    /// <see cref="Longest"/>; anything else is refused, never overflowed or rounded to nothing.
    /// </summary>
    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        var (unit, factor) = text.EndsWith("ms", StringComparison.Ordinal) ? ("ms", 1.0)
            : text.EndsWith('s') ? ("s", 1000.0)
            : text.EndsWith('m') ? ("m", 60_000.0)
            : text.EndsWith('h') ? ("h", 3_600_000.0)
            : ("", 0.0);
        if (factor == 0) return false;
        var number = text[..^unit.Length];
        if (number.Length is 0 or > 24 || !number.All(c => char.IsAsciiDigit(c) || c == '.')
            || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            return false;
        var milliseconds = value * factor;
        if (!double.IsFinite(milliseconds) || milliseconds <= 0 || milliseconds > Longest.TotalMilliseconds) return false;
        duration = TimeSpan.FromMilliseconds(milliseconds);
        return duration > TimeSpan.Zero;
    }
}
