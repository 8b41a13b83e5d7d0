using System.Security.Cryptography;
using System.Text;

namespace Portcullis.Defaults.Bus;

/// <summary>
/// The message id of an event that exists once per request (or per approval): derived from that id and the
/// event's type, the same on every delivery. A consumer that is handed its message again after a broker or
/// process crash decides again and publishes again; with the same message id the audit, which stores each
/// message id once, keeps one copy. A name-based UUID like RFC 9562's version 5, with SHA-256 in place of
/// SHA-1 (so it carries version 8, "custom"), over a namespace of our own and the name.
/// </summary>
public static class EventMessageId
{
    // A fixed namespace for Portcullis' derived ids (itself a random UUID, chosen once).
    private static readonly byte[] Namespace = Guid.Parse("5d0f3a9e-7c4b-4b8e-9a31-2f6c1d8e4a70").ToByteArray(bigEndian: true);

    /// <summary>The id of the <typeparamref name="TEvent"/> of <paramref name="id"/>.</summary>
    public static Guid For<TEvent>(Guid id) => For(typeof(TEvent).Name, id.ToString("N"));

    /// <summary>The id of the event named <paramref name="eventType"/> for <paramref name="key"/>.</summary>
    public static Guid For(string eventType, string key)
    {
        var name = Encoding.UTF8.GetBytes(eventType + "/" + key);
        var input = new byte[Namespace.Length + name.Length];
        Namespace.CopyTo(input, 0);
        name.CopyTo(input, Namespace.Length);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        var bytes = hash[..16].ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8 (custom: SHA-256)
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC variant
        return new Guid(bytes, bigEndian: true);
    }
}
