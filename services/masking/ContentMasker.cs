using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Portcullis.Masking.Detectors;

namespace Portcullis.Masking;

/// <summary>Masks an output by its content type: JSON token by token, text as text. Anything else is refused.</summary>
public sealed class ContentMasker(DetectorSet detectors)
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // The output is read by agents, not embedded in HTML: keep '+', quotes in text and non-ASCII readable.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public byte[] Mask(string contentType, ReadOnlySpan<byte> body, MaskingTally tally)
    {
        if (IsJson(contentType))
        {
            var masked = TryMaskJson(body, tally);
            if (masked is not null) return masked;
            // Not valid JSON after all: it is still text, and still masked as text.
        }
        if (IsText(contentType) || IsJson(contentType) || contentType.Length == 0)
        {
            return Encoding.UTF8.GetBytes(detectors.Mask(Encoding.UTF8.GetString(body), tally));
        }
        throw new UnmaskableContentException(contentType);
    }

    private byte[]? TryMaskJson(ReadOnlySpan<byte> body, MaskingTally tally)
    {
        var output = new ArrayBufferWriter<byte>(body.Length + 256);
        var local = new MaskingTally();
        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            using var writer = new Utf8JsonWriter(output, WriterOptions);
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject: writer.WriteStartObject(); break;
                    case JsonTokenType.EndObject: writer.WriteEndObject(); break;
                    case JsonTokenType.StartArray: writer.WriteStartArray(); break;
                    case JsonTokenType.EndArray: writer.WriteEndArray(); break;
                    case JsonTokenType.PropertyName: writer.WritePropertyName(detectors.Mask(reader.GetString()!, local)); break;
                    case JsonTokenType.String: writer.WriteStringValue(detectors.Mask(reader.GetString()!, local)); break;
                    case JsonTokenType.Number: writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true); break;
                    case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                    case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                    case JsonTokenType.Null: writer.WriteNullValue(); break;
                }
            }
            writer.Flush();
        }
        catch (JsonException)
        {
            return null;
        }
        foreach (var (entity, count) in local.Counts) tally.Add(entity, count);
        return output.WrittenSpan.ToArray();
    }

    private static bool IsJson(string contentType) =>
        MediaType(contentType) is var type && (type == "application/json" || type.EndsWith("+json", StringComparison.Ordinal));

    private static bool IsText(string contentType) =>
        MediaType(contentType) is var type && (type.StartsWith("text/", StringComparison.Ordinal) ||
            type is "application/xml" or "application/x-ndjson" or "application/x-www-form-urlencoded" ||
            type.EndsWith("+xml", StringComparison.Ordinal));

    private static string MediaType(string contentType) =>
        contentType.Split(';', 2)[0].Trim().ToLowerInvariant();
}

/// <summary>The content type is one the masker cannot inspect; failing closed, it is not returned.</summary>
public sealed class UnmaskableContentException(string contentType)
    : Exception($"Content of type '{contentType}' cannot be inspected for masking, so it is not returned.");
