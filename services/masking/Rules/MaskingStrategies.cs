using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Portcullis.Masking.Rules;

public enum MaskingStrategy { Redact, Partial, Hash, Null }

/// <summary>
/// What a sensitive value becomes: its entity tag ([EMAIL]); the last N characters behind asterisks; a keyed
/// hash (HMAC-SHA256 with the configured key, so equal values stay equal and joins still work, while nobody
/// without the key can test a guess); or nothing (JSON null).
/// </summary>
public sealed class MaskingStrategies(byte[]? hashKey)
{
    private static readonly ConcurrentDictionary<string, string> Tags = new(StringComparer.Ordinal);

    public static MaskingStrategy Parse(string value) => value switch
    {
        "redact" => MaskingStrategy.Redact,
        "partial" => MaskingStrategy.Partial,
        "hash" => MaskingStrategy.Hash,
        "null" => MaskingStrategy.Null,
        _ => throw new InvalidOperationException($"masking strategy '{value}' is not one of redact, partial, hash, null"),
    };

    public bool CanHash => hashKey is not null;

    /// <summary>The replacement text; null for <see cref="MaskingStrategy.Null"/>.</summary>
    public string? Apply(MaskingStrategy strategy, string entity, ReadOnlySpan<char> value, int keep) => strategy switch
    {
        MaskingStrategy.Redact => Tag(entity),
        MaskingStrategy.Partial => value.Length <= keep ? Tag(entity)
            : string.Concat(new string('*', Math.Min(value.Length - keep, 12)), value[^keep..]),
        MaskingStrategy.Hash => $"[{entity}:{Convert.ToHexStringLower(Hmac(value))[..16]}]",
        _ => null,
    };

    /// <summary>What <see cref="MaskingStrategy.Redact"/> makes of any value of <paramref name="entity"/>: [EMAIL].</summary>
    public static string Tag(string entity) => Tags.GetOrAdd(entity, static e => $"[{e}]");

    private byte[] Hmac(ReadOnlySpan<char> value)
    {
        var utf8 = new byte[Encoding.UTF8.GetByteCount(value)];
        Encoding.UTF8.GetBytes(value, utf8);
        return HMACSHA256.HashData(hashKey!, utf8);
    }
}
