using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Portcullis.Gateway.Connectors.Postgres;

/// <summary>
/// SQL results as the JSON agents get: {"results": [{"columns": [{name, type, origin}], "rows": [[...]],
/// "rowCount": n, "truncated": bool}]}. Values keep their JSON types; what has none is written as text
/// (<see cref="SqlValues"/>).
/// </summary>
public static class SqlResultWriter
{
    public static byte[] Write(SqlResult result)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("results");
            foreach (var set in result.Results)
            {
                json.WriteStartObject();
                json.WriteStartArray("columns");
                foreach (var column in set.Columns)
                {
                    json.WriteStartObject();
                    json.WriteString("name", column.Name);
                    json.WriteString("type", column.Type);
                    if (column.Origin is null) json.WriteNull("origin");
                    else json.WriteString("origin", column.Origin);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteStartArray("rows");
                foreach (var row in set.Rows)
                {
                    json.WriteStartArray();
                    foreach (var value in row) WriteValue(json, value);
                    json.WriteEndArray();
                }
                json.WriteEndArray();
                json.WriteNumber("rowCount", set.Rows.Count);
                json.WriteBoolean("truncated", set.Truncated);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case string text: json.WriteStringValue(text); break;
            case JsonNumberText number: json.WriteRawValue(number.Text); break;
            case bool flag: json.WriteBooleanValue(flag); break;
            case short or int or long or byte: json.WriteNumberValue(Convert.ToInt64(value, CultureInfo.InvariantCulture)); break;
            case float or double: json.WriteNumberValue(Convert.ToDouble(value, CultureInfo.InvariantCulture)); break;
            case decimal number: json.WriteNumberValue(number); break;
            case DateTime time: json.WriteStringValue(time); break;
            case DateTimeOffset time: json.WriteStringValue(time); break;
            case Guid id: json.WriteStringValue(id); break;
            case byte[] bytes: json.WriteBase64StringValue(bytes); break;
            case Array array:
                json.WriteStartArray();
                foreach (var item in array) WriteValue(json, item);
                json.WriteEndArray();
                break;
            default: json.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
        }
    }
}
