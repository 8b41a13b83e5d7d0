using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Portcullis.Contracts;

namespace Portcullis.Audit.Recording;

/// <summary>
/// The form in which PostgreSQL can keep any string: its text and jsonb types refuse U+0000 (SQLSTATE 22P05, or
/// 22021 for text) and jsonb refuses a lone surrogate (22P02), and one agent's SQL statement holding a NUL once
/// stopped the whole audit. A string that holds such a character is stored as <see cref="Marker"/> followed by the
/// string with the character as a visible <c>\uXXXX</c> escape and every backslash doubled; the escaping is
/// reversible, so the chain hash covers the original (<see cref="AuditChain.Hash"/> reverses it). Within an escaped
/// event every string that begins with the marker is escaped too, so reading it back is never ambiguous.
/// </summary>
public static class StorableText
{
    /// <summary>What begins every escaped string; visible, so an auditor reading the record sees that it was escaped.</summary>
    public const string Marker = "[escaped] ";

    /// <summary>Whether PostgreSQL's text and jsonb types can store <paramref name="text"/> as it is.</summary>
    public static bool IsStorable(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0') return false;
            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1])) return false;
                i++;
            }
            else if (char.IsLowSurrogate(c)) return false;
        }
        return true;
    }

    /// <summary>The marker, then the text with NULs and lone surrogates as <c>\uXXXX</c> and backslashes doubled.</summary>
    public static string Escape(string text)
    {
        var escaped = new StringBuilder(Marker, Marker.Length + text.Length + 16);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\') escaped.Append(@"\\");
            else if (c == '\0') escaped.Append(@"\u0000");
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) escaped.Append(c).Append(text[++i]);
            else if (char.IsSurrogate(c)) escaped.Append(CultureInfo.InvariantCulture, $@"\u{(int)c:x4}");
            else escaped.Append(c);
        }
        return escaped.ToString();
    }

    /// <summary>The original of an escaped string; false when <paramref name="stored"/> is not one <see cref="Escape"/> could have written.</summary>
    public static bool TryUnescape(string stored, out string original)
    {
        original = stored;
        if (!stored.StartsWith(Marker, StringComparison.Ordinal)) return false;
        var text = new StringBuilder(stored.Length);
        for (var i = Marker.Length; i < stored.Length; i++)
        {
            var c = stored[i];
            if (c != '\\')
            {
                text.Append(c);
                continue;
            }
            if (i + 1 < stored.Length && stored[i + 1] == '\\')
            {
                text.Append('\\');
                i++;
            }
            else if (i + 5 < stored.Length && stored[i + 1] == 'u'
                && ushort.TryParse(stored.AsSpan(i + 2, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code))
            {
                text.Append((char)code);
                i += 5;
            }
            else return false;
        }
        original = text.ToString();
        return true;
    }

    /// <summary><paramref name="text"/> if it is storable, else its escaped form: for strings the audit itself records.</summary>
    public static string Storable(string text) => IsStorable(text) ? text : Escape(text);
}

/// <summary>An event in the form it is stored: the original when PostgreSQL can keep it, else with its strings escaped.</summary>
public static class StorableForm
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// The event to store for <paramref name="message"/>, and whether it was escaped. Works on the event's JSON (the
    /// form the chain hashes), so every string is covered: nested records, lists and dictionary keys alike.
    /// </summary>
    public static (IRequestMessage Stored, bool Escaped) Of(IRequestMessage message) => Of(message, AuditChain.Serialize(message));

    /// <summary><see cref="Of(IRequestMessage)"/> with the event's JSON from <see cref="AuditChain.Serialize"/>, serialized once for both.</summary>
    public static (IRequestMessage Stored, bool Escaped) Of(IRequestMessage message, byte[] json)
    {
        if (json.AsSpan().IndexOf(@"\u0000"u8) < 0 && json.AsSpan().IndexOf(@"\uD"u8) < 0 && json.AsSpan().IndexOf(@"\ud"u8) < 0)
            return (message, false); // the serializer escapes every NUL and lone surrogate: none is there
        using var document = JsonDocument.Parse(json);
        if (Storable(document.RootElement)) return (message, false); // a paired surrogate written as escapes
        var rewritten = new ArrayBufferWriter<byte>(json.Length + 64);
        using (var writer = new Utf8JsonWriter(rewritten)) WriteEscaped(document.RootElement, writer);
        var stored = (IRequestMessage)JsonSerializer.Deserialize(rewritten.WrittenSpan, message.GetType(), Json)!;
        return (stored, true);
    }

    private static bool Storable(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().All(p => StorableText.IsStorable(p.Name) && Storable(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().All(Storable),
        JsonValueKind.String => StorableText.IsStorable(element.GetString()!),
        _ => true,
    };

    private static string Escaped(string text) =>
        !StorableText.IsStorable(text) || text.StartsWith(StorableText.Marker, StringComparison.Ordinal) ? StorableText.Escape(text) : text;

    private static void WriteEscaped(JsonElement element, Utf8JsonWriter writer)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    writer.WritePropertyName(Escaped(property.Name));
                    WriteEscaped(property.Value, writer);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray()) WriteEscaped(item, writer);
                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(Escaped(element.GetString()!));
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }
}
