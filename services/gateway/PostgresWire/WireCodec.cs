using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Portcullis.Gateway.PostgresWire;

/// <summary>A frontend message: its type byte (0 for the untyped startup-phase packets) and its payload.</summary>
public sealed record FrontendMessage(byte Type, byte[] Payload);

/// <summary>Why a byte stream is not the PostgreSQL protocol: answered with an ErrorResponse, then the connection closes.</summary>
public sealed class WireProtocolException(string sqlState, string message) : Exception(message)
{
    public string SqlState { get; } = sqlState;
}

/// <summary>
/// Framing of the PostgreSQL v3 protocol (pure logic over buffers): the untyped startup packets and the typed
/// messages after them, with the size limits that keep a hostile client from making the gateway hold its bytes.
/// </summary>
public static class WireCodec
{
    public const int ProtocolVersion3 = 196608; // 3.0
    public const int SslRequestCode = 80877103;
    public const int GssEncRequestCode = 80877104;
    public const int CancelRequestCode = 80877102;
    /// <summary>PostgreSQL's own limit on a startup packet.</summary>
    public const int MaxStartupLength = 10_000;

    /// <summary>The typed messages a client may send after startup.</summary>
    private static readonly byte[] KnownTypes = "QPBDESHCXpdcfF"u8.ToArray();

    /// <summary>
    /// Takes one whole message from <paramref name="buffer"/> when it holds one (and advances it past), else returns
    /// false. Throws <see cref="WireProtocolException"/> for a length or type no client sends.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, bool startup, int maxLength, out FrontendMessage? message)
    {
        message = null;
        var header = startup ? 4 : 5;
        if (buffer.Length < header) return false;
        Span<byte> head = stackalloc byte[5];
        buffer.Slice(0, header).CopyTo(head);
        byte type = 0;
        int length;
        if (startup)
        {
            length = BinaryPrimitives.ReadInt32BigEndian(head);
            if (length < 8 || length > MaxStartupLength)
                throw new WireProtocolException("08P01", $"Invalid startup packet length {length}: this port speaks the PostgreSQL protocol.");
        }
        else
        {
            type = head[0];
            if (Array.IndexOf(KnownTypes, type) < 0)
                throw new WireProtocolException("08P01", $"Invalid frontend message type {type} ('{Printable(type)}').");
            length = BinaryPrimitives.ReadInt32BigEndian(head[1..]);
            if (length < 4)
                throw new WireProtocolException("08P01", $"Invalid message length {length}.");
            if (length > maxLength)
                throw new WireProtocolException("54000", $"The message is {length} bytes, more than the {maxLength} this gateway accepts.");
        }
        var total = startup ? length : length + 1;
        if (buffer.Length < total) return false;
        var payload = buffer.Slice(header, total - header).ToArray();
        buffer = buffer.Slice(total);
        message = new FrontendMessage(type, payload);
        return true;
    }

    private static char Printable(byte b) => b is >= 0x20 and < 0x7f ? (char)b : '?';
}

/// <summary>Reads the fields of a message payload in order, refusing a payload that ends early.</summary>
public ref struct PayloadReader(ReadOnlySpan<byte> payload)
{
    private readonly ReadOnlySpan<byte> _payload = payload;
    private int _at;

    public readonly bool AtEnd => _at == _payload.Length;

    public string CString()
    {
        var end = _payload[_at..].IndexOf((byte)0);
        if (end < 0) throw Malformed("a string without its terminator");
        var text = Utf8(_payload.Slice(_at, end));
        _at += end + 1;
        return text;
    }

    public short Int16()
    {
        Need(2);
        var value = BinaryPrimitives.ReadInt16BigEndian(_payload[_at..]);
        _at += 2;
        return value;
    }

    public int Int32()
    {
        Need(4);
        var value = BinaryPrimitives.ReadInt32BigEndian(_payload[_at..]);
        _at += 4;
        return value;
    }

    public byte Byte()
    {
        Need(1);
        return _payload[_at++];
    }

    public byte[]? Bytes(int length)
    {
        if (length == -1) return null;
        if (length < 0) throw Malformed($"a value length of {length}");
        Need(length);
        var bytes = _payload.Slice(_at, length).ToArray();
        _at += length;
        return bytes;
    }

    /// <summary>A count of following items, each at least <paramref name="minimumSize"/> bytes: bounded by what is left.</summary>
    public int Count(int minimumSize)
    {
        var count = Int16();
        if (count < 0 || (long)count * minimumSize > _payload.Length - _at) throw Malformed($"a count of {count}");
        return count;
    }

    private readonly void Need(int bytes)
    {
        if (_payload.Length - _at < bytes) throw Malformed("fewer bytes than its fields need");
    }

    private static WireProtocolException Malformed(string what) =>
        new("08P01", $"Malformed message: {what}.");

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    public static string Utf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new WireProtocolException("22021", "Invalid byte sequence for encoding \"UTF8\".");
        }
    }
}

/// <summary>Backend messages, appended to a buffer that is sent when the client needs an answer.</summary>
public sealed class BackendWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);

    public int Length => _buffer.WrittenCount;
    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;
    public void Clear() => _buffer.Clear();

    // Each message is written straight into the buffer (no closure, header array or intermediate strings per message):
    // Begin writes the type and a length placeholder, End patches the length once the body is written.
    public void AuthenticationOk() { var at = Begin((byte)'R'); W.Int32(0); End(at); }
    public void AuthenticationCleartextPassword() { var at = Begin((byte)'R'); W.Int32(3); End(at); }

    public void ParameterStatus(string name, string value)
    {
        var at = Begin((byte)'S');
        W.CString(name);
        W.CString(value);
        End(at);
    }

    public void BackendKeyData(int processId, int secretKey)
    {
        var at = Begin((byte)'K');
        W.Int32(processId);
        W.Int32(secretKey);
        End(at);
    }

    public void ReadyForQuery(byte status) { var at = Begin((byte)'Z'); W.Byte(status); End(at); }
    public void ParseComplete() => End(Begin((byte)'1'));
    public void BindComplete() => End(Begin((byte)'2'));
    public void CloseComplete() => End(Begin((byte)'3'));
    public void NoData() => End(Begin((byte)'n'));
    public void EmptyQueryResponse() => End(Begin((byte)'I'));
    public void PortalSuspended() => End(Begin((byte)'s'));
    public void CommandComplete(string tag) { var at = Begin((byte)'C'); W.CString(tag); End(at); }

    public void ParameterDescription(IReadOnlyList<uint> types)
    {
        var at = Begin((byte)'t');
        W.Int16((short)types.Count);
        foreach (var type in types) W.Int32((int)type);
        End(at);
    }

    public void RowDescription(IReadOnlyList<WireColumn> columns)
    {
        var at = Begin((byte)'T');
        var w = W;
        w.Int16((short)columns.Count);
        foreach (var column in columns)
        {
            w.CString(column.Name);
            w.Int32((int)column.TableOid);
            w.Int16(column.Attribute);
            w.Int32((int)column.TypeOid);
            w.Int16(column.TypeSize);
            w.Int32(-1); // type modifier
            w.Int16(column.Binary ? (short)1 : (short)0);
        }
        End(at);
    }

    public void DataRow(IReadOnlyList<byte[]?> values)
    {
        var at = Begin((byte)'D');
        var w = W;
        w.Int16((short)values.Count);
        foreach (var value in values)
        {
            if (value is null)
            {
                w.Int32(-1);
                continue;
            }
            w.Int32(value.Length);
            w.Bytes(value);
        }
        End(at);
    }

    /// <summary>ErrorResponse ('E') or NoticeResponse ('N'): severity, SQLSTATE, message, and detail and hint when given.</summary>
    public void Error(WireError error, bool notice = false)
    {
        var at = Begin(notice ? (byte)'N' : (byte)'E');
        var w = W;
        w.Field('S', error.Severity);
        w.Field('V', error.Severity);
        w.Field('C', error.SqlState);
        w.Field('M', error.Message);
        if (error.Detail is { Length: > 0 } detail) w.Field('D', detail);
        if (error.Hint is { Length: > 0 } hint) w.Field('H', hint);
        if (error.Position is > 0) w.Field('P', error.Position.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.Byte(0);
        End(at);
    }

    /// <summary>The one-byte answer to SSLRequest / GSSENCRequest ('S' or 'N'), which has no frame.</summary>
    public void Raw(byte value) => W.Byte(value);

    private FieldWriter W => new(_buffer);

    private int Begin(byte type)
    {
        var start = _buffer.WrittenCount;
        var header = _buffer.GetSpan(5);
        header[0] = type;
        header[1..5].Clear();
        _buffer.Advance(5);
        return start;
    }

    private void End(int start)
    {
        var length = _buffer.WrittenCount - start - 1;
        // The length is patched in place once the body is written.
        var written = System.Runtime.InteropServices.MemoryMarshal.AsMemory(_buffer.WrittenMemory);
        BinaryPrimitives.WriteInt32BigEndian(written.Span.Slice(start + 1, 4), length);
    }

    public readonly struct FieldWriter(ArrayBufferWriter<byte> buffer)
    {
        public void Byte(byte value)
        {
            buffer.GetSpan(1)[0] = value;
            buffer.Advance(1);
        }
        public void Bytes(ReadOnlySpan<byte> value) => buffer.Write(value);

        public void Int16(short value)
        {
            BinaryPrimitives.WriteInt16BigEndian(buffer.GetSpan(2), value);
            buffer.Advance(2);
        }

        public void Int32(int value)
        {
            BinaryPrimitives.WriteInt32BigEndian(buffer.GetSpan(4), value);
            buffer.Advance(4);
        }

        public void CString(string value)
        {
            // A NUL inside would end the field early; PostgreSQL never sends one in text.
            if (value.Contains('\0')) value = value.Replace('\0', ' ');
            var span = buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(value.Length) + 1);
            var length = Encoding.UTF8.GetBytes(value, span);
            span[length] = 0;
            buffer.Advance(length + 1);
        }

        public void Field(char code, string value)
        {
            Byte((byte)code);
            CString(value);
        }
    }
}

/// <summary>A column as RowDescription announces it.</summary>
public sealed record WireColumn(string Name, uint TableOid, short Attribute, uint TypeOid, short TypeSize, bool Binary);

/// <summary>An ErrorResponse or NoticeResponse.</summary>
public sealed record WireError(string Severity, string SqlState, string Message, string? Detail = null, string? Hint = null,
    int? Position = null)
{
    public static WireError Fatal(string sqlState, string message, string? hint = null) => new("FATAL", sqlState, message, Hint: hint);
    public static WireError Of(string sqlState, string message, string? detail = null, string? hint = null) =>
        new("ERROR", sqlState, message, detail, hint);
}
