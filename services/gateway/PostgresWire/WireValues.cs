using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>
/// Values between PostgreSQL's text form (what the connector reads and masking sees) and the binary form drivers ask
/// for. Results: the types below are sent in binary when asked; any other column asked in binary is announced as
/// <c>text</c> and sent as its text, so a driver never reads bytes as something they are not. Parameters: a binary
/// value of the types below is turned into its text form; any other binary parameter is refused.
/// </summary>
public static class WireValues
{
    public const uint Bool = 16, Bytea = 17, Char = 18, Name = 19, Int8 = 20, Int2 = 21, Int4 = 23, Text = 25, Oid = 26,
        Json = 114, Float4 = 700, Float8 = 701, Unknown = 705, Bpchar = 1042, Varchar = 1043, Date = 1082, Timestamp = 1114,
        TimestampTz = 1184, Numeric = 1700, Uuid = 2950, Jsonb = 3802;

    private static readonly DateTime Epoch = new(2000, 1, 1, 0, 0, 0, DateTimeKind.Unspecified);

    /// <summary>Whether a result column of this type can be sent in binary from its text form.</summary>
    public static bool HasBinaryResult(uint type) =>
        type is Bool or Int2 or Int4 or Int8 or Oid or Float4 or Float8 or Text or Varchar or Bpchar or Name or Char or Json
            or Jsonb or Uuid or Bytea or Unknown or Numeric or Date or Timestamp or TimestampTz;

    public static short TypeSize(uint type) => type switch
    {
        Bool or Char => 1,
        Int2 => 2,
        Int4 or Oid or Float4 or Date => 4,
        Int8 or Float8 or Timestamp or TimestampTz => 8,
        Uuid => 16,
        Name => 64,
        _ => -1,
    };

    /// <summary>The binary form of a value given in text, for a type <see cref="HasBinaryResult"/> accepts.</summary>
    public static byte[] ToBinary(uint type, string text)
    {
        switch (type)
        {
            case Bool: return [text is "t" or "true" ? (byte)1 : (byte)0];
            case Int2: return Big(2, b => BinaryPrimitives.WriteInt16BigEndian(b, short.Parse(text, CultureInfo.InvariantCulture)));
            case Int4: return Big(4, b => BinaryPrimitives.WriteInt32BigEndian(b, int.Parse(text, CultureInfo.InvariantCulture)));
            case Oid: return Big(4, b => BinaryPrimitives.WriteUInt32BigEndian(b, uint.Parse(text, CultureInfo.InvariantCulture)));
            case Int8: return Big(8, b => BinaryPrimitives.WriteInt64BigEndian(b, long.Parse(text, CultureInfo.InvariantCulture)));
            case Float4: return Big(4, b => BinaryPrimitives.WriteSingleBigEndian(b, ParseFloat(text)));
            case Float8: return Big(8, b => BinaryPrimitives.WriteDoubleBigEndian(b, ParseDouble(text)));
            case Uuid: return Guid.Parse(text).ToByteArray(bigEndian: true);
            case Jsonb: return [1, .. Encoding.UTF8.GetBytes(text)];
            case Bytea when text.StartsWith("\\x", StringComparison.Ordinal): return Convert.FromHexString(text.AsSpan(2));
            case Numeric: return NumericBinary(text);
            case Date: return Big(4, b => BinaryPrimitives.WriteInt32BigEndian(b, DateDays(text)));
            case Timestamp: return Big(8, b => BinaryPrimitives.WriteInt64BigEndian(b, TimestampMicroseconds(text, false)));
            case TimestampTz: return Big(8, b => BinaryPrimitives.WriteInt64BigEndian(b, TimestampMicroseconds(text, true)));
            default: return Encoding.UTF8.GetBytes(text);
        }
    }

    /// <summary>numeric's binary form from its text: base-10000 digits around the decimal point, weight, sign, display scale.</summary>
    private static byte[] NumericBinary(string text)
    {
        ushort sign = text switch { "NaN" => 0xC000, "Infinity" => 0xD000, "-Infinity" => 0xF000, _ => 0 };
        var groups = new List<short>();
        short weight = 0, scale = 0;
        if (sign == 0)
        {
            var negative = text.StartsWith('-');
            var digits = text.TrimStart('-', '+');
            var point = digits.IndexOf('.');
            var whole = (point < 0 ? digits : digits[..point]).TrimStart('0');
            var fraction = point < 0 ? "" : digits[(point + 1)..];
            if ((whole + fraction).Any(c => !char.IsAsciiDigit(c))) throw new FormatException("not a numeric in PostgreSQL's text form");
            scale = (short)fraction.Length;
            whole = whole.PadLeft((whole.Length + 3) / 4 * 4, '0');
            fraction = fraction.PadRight((fraction.Length + 3) / 4 * 4, '0');
            var all = whole + fraction;
            for (var i = 0; i < all.Length; i += 4) groups.Add(short.Parse(all.AsSpan(i, 4), CultureInfo.InvariantCulture));
            weight = (short)(whole.Length / 4 - 1);
            while (groups.Count > 0 && groups[0] == 0) { groups.RemoveAt(0); weight--; }
            while (groups.Count > 0 && groups[^1] == 0) groups.RemoveAt(groups.Count - 1);
            if (groups.Count == 0) weight = 0;
            else if (negative) sign = 0x4000;
        }
        var bytes = new byte[8 + 2 * groups.Count];
        BinaryPrimitives.WriteInt16BigEndian(bytes, (short)groups.Count);
        BinaryPrimitives.WriteInt16BigEndian(bytes.AsSpan(2), weight);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(4), sign);
        BinaryPrimitives.WriteInt16BigEndian(bytes.AsSpan(6), scale);
        for (var i = 0; i < groups.Count; i++) BinaryPrimitives.WriteInt16BigEndian(bytes.AsSpan(8 + 2 * i), groups[i]);
        return bytes;
    }

    /// <summary>Days since 2000-01-01 of an ISO date (DateStyle ISO, as the gateway reports it), BC years included.</summary>
    private static int DateDays(string text)
    {
        if (text == "infinity") return int.MaxValue;
        if (text == "-infinity") return int.MinValue;
        var bc = text.EndsWith(" BC", StringComparison.Ordinal);
        var parts = (bc ? text[..^3] : text).Split('-');
        if (parts.Length != 3) throw new FormatException("not a date in ISO form");
        var year = int.Parse(parts[0], CultureInfo.InvariantCulture);
        if (bc) year = 1 - year;
        return (int)(CivilDays(year, int.Parse(parts[1], CultureInfo.InvariantCulture), int.Parse(parts[2], CultureInfo.InvariantCulture))
                     - CivilDays(2000, 1, 1));
    }

    /// <summary>Days from 1970-01-01 of a proleptic Gregorian date (any year, astronomical numbering).</summary>
    private static long CivilDays(long year, long month, long day)
    {
        year -= month <= 2 ? 1 : 0;
        var era = (year >= 0 ? year : year - 399) / 400;
        var yearOfEra = year - era * 400;
        var dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
        var dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear;
        return era * 146097 + dayOfEra - 719468;
    }

    /// <summary>Microseconds since 2000-01-01 00:00 (UTC for timestamptz) of an ISO timestamp, with its offset when it has one.</summary>
    private static long TimestampMicroseconds(string text, bool withZone)
    {
        if (text == "infinity") return long.MaxValue;
        if (text == "-infinity") return long.MinValue;
        var bc = text.EndsWith(" BC", StringComparison.Ordinal);
        if (bc) text = text[..^3];
        var space = text.IndexOf(' ');
        if (space < 0) throw new FormatException("not a timestamp in ISO form");
        var days = DateDays(text[..space] + (bc ? " BC" : ""));
        var time = text[(space + 1)..];
        long offsetSeconds = 0;
        if (withZone)
        {
            var at = time.LastIndexOfAny(['+', '-']);
            if (at < 0) throw new FormatException("a timestamptz without its offset");
            var zone = time[(at + 1)..].Split(':');
            offsetSeconds = int.Parse(zone[0], CultureInfo.InvariantCulture) * 3600L
                            + (zone.Length > 1 ? int.Parse(zone[1], CultureInfo.InvariantCulture) * 60L : 0)
                            + (zone.Length > 2 ? int.Parse(zone[2], CultureInfo.InvariantCulture) : 0);
            if (time[at] == '-') offsetSeconds = -offsetSeconds;
            time = time[..at];
        }
        var clock = time.Split(':');
        if (clock.Length != 3) throw new FormatException("not a time in ISO form");
        var seconds = clock[2].Split('.');
        var micro = seconds.Length > 1 ? long.Parse(seconds[1].PadRight(6, '0')[..6], CultureInfo.InvariantCulture) : 0;
        var total = ((days * 24L + int.Parse(clock[0], CultureInfo.InvariantCulture)) * 60 + int.Parse(clock[1], CultureInfo.InvariantCulture)) * 60
                    + int.Parse(seconds[0], CultureInfo.InvariantCulture) - offsetSeconds;
        return total * 1_000_000 + micro;
    }

    private static byte[] Big(int size, Action<byte[]> write)
    {
        var bytes = new byte[size];
        write(bytes);
        return bytes;
    }

    private static float ParseFloat(string text) => text switch
    {
        "NaN" => float.NaN,
        "Infinity" => float.PositiveInfinity,
        "-Infinity" => float.NegativeInfinity,
        _ => float.Parse(text, CultureInfo.InvariantCulture),
    };

    private static double ParseDouble(string text) => text switch
    {
        "NaN" => double.NaN,
        "Infinity" => double.PositiveInfinity,
        "-Infinity" => double.NegativeInfinity,
        _ => double.Parse(text, CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// The text form of a binary parameter of type <paramref name="type"/>, or null with why it cannot be read (a type
    /// whose binary form the gateway does not decode, or bytes that do not fit the type).
    /// </summary>
    public static string? FromBinary(uint type, byte[] value, out string? error)
    {
        error = null;
        try
        {
            switch (type)
            {
                case Bool when value.Length == 1: return value[0] != 0 ? "t" : "f";
                case Int2 when value.Length == 2: return BinaryPrimitives.ReadInt16BigEndian(value).ToString(CultureInfo.InvariantCulture);
                case Int4 when value.Length == 4: return BinaryPrimitives.ReadInt32BigEndian(value).ToString(CultureInfo.InvariantCulture);
                case Oid when value.Length == 4: return BinaryPrimitives.ReadUInt32BigEndian(value).ToString(CultureInfo.InvariantCulture);
                case Int8 when value.Length == 8: return BinaryPrimitives.ReadInt64BigEndian(value).ToString(CultureInfo.InvariantCulture);
                case Float4 when value.Length == 4: return FloatText(BinaryPrimitives.ReadSingleBigEndian(value));
                case Float8 when value.Length == 8: return DoubleText(BinaryPrimitives.ReadDoubleBigEndian(value));
                case Uuid when value.Length == 16: return new Guid(value, bigEndian: true).ToString();
                case Text or Varchar or Bpchar or Name or Char or Json or Unknown: return PayloadReader.Utf8(value);
                case Jsonb when value.Length >= 1 && value[0] == 1: return PayloadReader.Utf8(value.AsSpan(1));
                case Bytea: return "\\x" + Convert.ToHexStringLower(value);
                case Date when value.Length == 4: return DateText(BinaryPrimitives.ReadInt32BigEndian(value));
                case Timestamp when value.Length == 8: return TimestampText(BinaryPrimitives.ReadInt64BigEndian(value), false);
                case TimestampTz when value.Length == 8: return TimestampText(BinaryPrimitives.ReadInt64BigEndian(value), true);
                case Numeric when value.Length >= 8: return NumericText(value);
            }
        }
        catch (WireProtocolException ex)
        {
            error = ex.Message;
            return null;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException or IndexOutOfRangeException)
        {
            error = $"the binary value is not a valid value of type {type}";
            return null;
        }
        error = type == 0
            ? "a binary parameter needs its type in Parse (the gateway cannot guess it); send it in text format or declare its type"
            : $"binary parameters of type {type} are not read by the gateway; send this one in text format";
        return null;
    }

    private static string FloatText(float value) => float.IsNaN(value) ? "NaN" : float.IsPositiveInfinity(value) ? "Infinity"
        : float.IsNegativeInfinity(value) ? "-Infinity" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string DoubleText(double value) => double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "Infinity"
        : double.IsNegativeInfinity(value) ? "-Infinity" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string DateText(int days) => days switch
    {
        int.MaxValue => "infinity",
        int.MinValue => "-infinity",
        _ => Epoch.AddDays(days).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
    };

    private static string TimestampText(long microseconds, bool utc)
    {
        if (microseconds == long.MaxValue) return "infinity";
        if (microseconds == long.MinValue) return "-infinity";
        var time = Epoch.AddTicks(microseconds * 10);
        return time.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + (utc ? "+00" : "");
    }

    /// <summary>numeric's binary form: digit count, weight, sign, display scale, then base-10000 digits.</summary>
    private static string NumericText(byte[] value)
    {
        var count = BinaryPrimitives.ReadInt16BigEndian(value);
        var weight = BinaryPrimitives.ReadInt16BigEndian(value.AsSpan(2));
        var sign = BinaryPrimitives.ReadUInt16BigEndian(value.AsSpan(4));
        var scale = BinaryPrimitives.ReadInt16BigEndian(value.AsSpan(6));
        if (sign == 0xC000) return "NaN";
        if (sign == 0xD000) return "Infinity";
        if (sign == 0xF000) return "-Infinity";
        if (count < 0 || value.Length != 8 + 2 * count || scale < 0 || (sign != 0 && sign != 0x4000))
            throw new FormatException();
        var digits = new short[count];
        for (var i = 0; i < count; i++)
        {
            digits[i] = BinaryPrimitives.ReadInt16BigEndian(value.AsSpan(8 + 2 * i));
            if (digits[i] is < 0 or > 9999) throw new FormatException();
        }
        var text = new StringBuilder();
        if (sign == 0x4000) text.Append('-');
        // The integer part: groups 0..weight.
        if (weight < 0) text.Append('0');
        else
            for (var g = 0; g <= weight; g++)
            {
                var group = g < count ? digits[g] : 0;
                text.Append(g == 0 ? group.ToString(CultureInfo.InvariantCulture) : group.ToString("D4", CultureInfo.InvariantCulture));
            }
        if (scale > 0)
        {
            var fraction = new StringBuilder();
            for (var g = weight + 1; fraction.Length < scale; g++)
            {
                var group = g >= 0 && g < count ? digits[g] : 0;
                fraction.Append(group.ToString("D4", CultureInfo.InvariantCulture));
            }
            text.Append('.').Append(fraction.ToString(0, scale));
        }
        return text.ToString();
    }
}
