using System.Text.RegularExpressions;

namespace Portcullis.Masking.Detectors;

public sealed partial class EmailDetector : IDetector
{
    public string Entity => "EMAIL";

    public string Mask(string text, out int count)
    {
        var found = 0;
        var masked = Email().Replace(text, _ => { found++; return "[EMAIL]"; });
        count = found;
        return masked;
    }

    // Local part of RFC 5322's dot-atom characters, a domain of labels and a letters-only TLD.
    [GeneratedRegex(@"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9_%+\-](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])",
        RegexOptions.CultureInvariant)]
    private static partial Regex Email();
}
