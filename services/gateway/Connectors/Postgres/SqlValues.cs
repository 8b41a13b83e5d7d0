using System.Text.RegularExpressions;

namespace Portcullis.Gateway.Connectors.Postgres;

/// <summary>
/// A result value, read in PostgreSQL's text form, as the JSON value an agent gets: integers, finite
/// floating-point and numeric values as JSON numbers (exactly the digits PostgreSQL printed), booleans as
/// JSON booleans, and every other type (dates, intervals, arrays, ranges, regclass, tsvector, money, xml,
/// NaN, Infinity, types of extensions...) as PostgreSQL's own text.
/// </summary>
public static partial class SqlValues
{
    private const uint Bool = 16, Int8 = 20, Int2 = 21, Int4 = 23, Float4 = 700, Float8 = 701, Numeric = 1700;

    public static object FromText(uint typeOid, string text) => typeOid switch
    {
        Bool when text == "t" => true,
        Bool when text == "f" => false,
        Int2 or Int4 or Int8 when long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign,
            System.Globalization.CultureInfo.InvariantCulture, out var integer) => integer,
        Float4 or Float8 or Numeric when JsonNumber().IsMatch(text) => new JsonNumberText(text),
        _ => text,
    };

    [GeneratedRegex(@"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+\-]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();
}

/// <summary>A number PostgreSQL printed, written into JSON as those digits (no rounding through double or decimal).</summary>
public sealed record JsonNumberText(string Text);
