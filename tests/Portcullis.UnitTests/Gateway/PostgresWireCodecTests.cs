using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Portcullis.Gateway.PostgresWire;

namespace Portcullis.UnitTests.Gateway;

/// <summary>The PostgreSQL wire framing, statement splitting and value forms, as pure logic.</summary>
public sealed class PostgresWireCodecTests
{
    private static byte[] Typed(char type, byte[] payload)
    {
        var message = new byte[5 + payload.Length];
        message[0] = (byte)type;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), payload.Length + 4);
        payload.CopyTo(message, 5);
        return message;
    }

    private static byte[] CString(string text) => [.. Encoding.UTF8.GetBytes(text), 0];

    [Fact]
    public void Reads_a_query_message_only_once_it_is_whole()
    {
        var bytes = Typed('Q', CString("SELECT 1"));
        var partial = new ReadOnlySequence<byte>(bytes, 0, bytes.Length - 1);
        Assert.False(WireCodec.TryRead(ref partial, startup: false, 1024, out _));

        var whole = new ReadOnlySequence<byte>([.. bytes, .. Typed('S', [])]);
        Assert.True(WireCodec.TryRead(ref whole, startup: false, 1024, out var query));
        Assert.Equal((byte)'Q', query!.Type);
        Assert.Equal("SELECT 1", new PayloadReader(query.Payload).CString());
        Assert.True(WireCodec.TryRead(ref whole, startup: false, 1024, out var sync));
        Assert.Equal((byte)'S', sync!.Type);
        Assert.Equal(0, whole.Length);
    }

    [Fact]
    public void Reads_the_startup_packet_and_its_parameters()
    {
        var body = new List<byte>();
        var version = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(version, WireCodec.ProtocolVersion3);
        body.AddRange(version);
        body.AddRange(CString("user"));
        body.AddRange(CString("agent"));
        body.Add(0);
        var packet = new byte[4 + body.Count];
        BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        body.CopyTo(packet, 4);
        var buffer = new ReadOnlySequence<byte>(packet);
        Assert.True(WireCodec.TryRead(ref buffer, startup: true, 1024, out var startup));
        Assert.Equal(WireCodec.ProtocolVersion3, BinaryPrimitives.ReadInt32BigEndian(startup!.Payload));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'G', (byte)'E', (byte)'T', (byte)' ', (byte)'/' }, true)] // HTTP on the PostgreSQL port
    [InlineData(new byte[] { 0x7f, 0xff, 0xff, 0xff, 0 }, true)] // a startup length of 2 GB
    [InlineData(new byte[] { 0, 0, 0, 3, 0 }, true)] // shorter than its own header
    [InlineData(new byte[] { (byte)'Z', 0, 0, 0, 4 }, false)] // a backend message type from a client
    [InlineData(new byte[] { (byte)'Q', 0, 0, 0, 2 }, false)] // a length shorter than itself
    [InlineData(new byte[] { (byte)'Q', 0x40, 0, 0, 0 }, false)] // 1 GB: more than the limit
    public void Refuses_lengths_and_types_no_client_sends(byte[] bytes, bool startup)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        Assert.Throws<WireProtocolException>(() => WireCodec.TryRead(ref buffer, startup, 1024 * 1024, out _));
    }

    [Fact]
    public void A_payload_that_ends_before_its_fields_is_malformed()
    {
        var error = Assert.Throws<WireProtocolException>(() => new PayloadReader("abc"u8).CString());
        Assert.Equal("08P01", error.SqlState);
        Assert.Throws<WireProtocolException>(() => new PayloadReader([0, 5, 0, 0]).Count(4)); // 5 items of 4 bytes in 2 bytes
        Assert.Equal("22021", Assert.Throws<WireProtocolException>(() => new PayloadReader([0xff, 0xfe, 0]).CString()).SqlState);
    }

    [Fact]
    public void Writes_messages_back_to_back_each_framed_with_its_own_length()
    {
        var writer = new BackendWriter();
        writer.RowDescription([new WireColumn("naïve\0name", 16384, 2, 25, -1, false)]);
        writer.DataRow([Encoding.UTF8.GetBytes("Ada €"), null]);
        writer.CommandComplete("SELECT 1");
        writer.EmptyQueryResponse();
        writer.ReadyForQuery((byte)'I');
        var expected = new[]
        {
            Typed('T', [0, 1, .. CString("naïve name"), 0, 0, 0x40, 0, 0, 2, 0, 0, 0, 25, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]),
            Typed('D', [0, 2, 0, 0, 0, 7, .. Encoding.UTF8.GetBytes("Ada €"), 0xff, 0xff, 0xff, 0xff]),
            Typed('C', CString("SELECT 1")),
            Typed('I', []),
            Typed('Z', [(byte)'I']),
        };
        Assert.Equal(expected.SelectMany(m => m).ToArray(), writer.Written.ToArray());
        writer.Clear();
        writer.ParseComplete();
        Assert.Equal(Typed('1', []), writer.Written.ToArray());
    }

    [Fact]
    public void Writes_an_error_response_with_its_fields_and_length()
    {
        var writer = new BackendWriter();
        writer.Error(WireError.Of("42501", "Denied by policy rule 'sql-no-ddl'", "detail", "hint"));
        var bytes = writer.Written.ToArray();
        Assert.Equal((byte)'E', bytes[0]);
        Assert.Equal(bytes.Length - 1, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(1)));
        var text = Encoding.UTF8.GetString(bytes, 5, bytes.Length - 5);
        Assert.Contains("SERROR\0", text);
        Assert.Contains("C42501\0", text);
        Assert.Contains("MDenied by policy rule 'sql-no-ddl'\0", text);
        Assert.Contains("Ddetail\0Hhint\0", text);
        Assert.Equal(0, bytes[^1]);
    }

    [Fact]
    public void Splits_statements_at_top_level_semicolons_only()
    {
        Assert.Equal(["SELECT 1", "SELECT 2"], WireSql.Statements("SELECT 1; SELECT 2;"));
        Assert.Single(WireSql.Statements("SELECT 'a;b', \"c;d\", $$e;f$$, $tag$ ; $tag$ -- ;\n /* ; /* ; */ */"));
        Assert.Single(WireSql.Statements("SELECT E'\\';' "));
        Assert.Empty(WireSql.Statements(" ; -- nothing\n ;"));
        Assert.Equal(2, WireSql.Statements("SELECT $1; SELECT 2").Count); // $1 is a parameter, not a dollar quote
    }

    [Theory]
    [InlineData("SELECT * FROM t", 3L, true, "SELECT 3")]
    [InlineData("insert into t values (1)", 1L, false, "INSERT 0 1")]
    [InlineData("UPDATE t SET a = 1", 2L, false, "UPDATE 2")]
    [InlineData("/* why */ CREATE TABLE t (a int)", 0L, false, "CREATE TABLE")]
    [InlineData("SET search_path = demo", 0L, false, "SET")]
    [InlineData("(SELECT 1)", 1L, true, "SELECT 1")]
    public void Command_tags_are_postgresqls(string sql, long rows, bool returnedRows, string tag) =>
        Assert.Equal(tag, WireSql.CommandTag(sql, rows, returnedRows));

    [Theory]
    [InlineData(WireValues.Int4, "-42")]
    [InlineData(WireValues.Int8, "9223372036854775807")]
    [InlineData(WireValues.Int2, "7")]
    [InlineData(WireValues.Bool, "t")]
    [InlineData(WireValues.Float8, "1.5")]
    [InlineData(WireValues.Text, "héllo")]
    [InlineData(WireValues.Uuid, "0b0e4e1c-2f4a-4b8e-9a55-0d9f2b6c1e11")]
    [InlineData(WireValues.Bytea, "\\xdeadbeef")]
    [InlineData(WireValues.Numeric, "12.3456")]
    [InlineData(WireValues.Numeric, "-0.5")]
    [InlineData(WireValues.Numeric, "70000")]
    [InlineData(WireValues.Numeric, "0.00001")]
    [InlineData(WireValues.Numeric, "123456789.120")]
    [InlineData(WireValues.Numeric, "0")]
    [InlineData(WireValues.Numeric, "NaN")]
    [InlineData(WireValues.Date, "2024-02-29")]
    [InlineData(WireValues.Date, "1999-12-31")]
    [InlineData(WireValues.Timestamp, "2024-02-29 13:45:01.250000")]
    [InlineData(WireValues.Timestamp, "1970-01-01 00:00:00.000000")]
    [InlineData(WireValues.TimestampTz, "2024-02-29 13:45:01.000001+00")]
    public void Binary_values_round_trip_through_their_text_form(uint type, string text)
    {
        var binary = WireValues.ToBinary(type, text);
        Assert.Equal(text, WireValues.FromBinary(type, binary, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData(WireValues.Date, "2000-01-01", new byte[] { 0, 0, 0, 0 })]
    [InlineData(WireValues.Date, "0001-01-01 BC", new byte[] { 0xff, 0xf4, 0xda, 0x8b })] // -730485 days, as PostgreSQL sends it
    [InlineData(WireValues.TimestampTz, "2000-01-01 02:00:00+02", new byte[] { 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(WireValues.Numeric, "-0.00", new byte[] { 0, 0, 0, 0, 0, 0, 0, 2 })]
    public void Writes_binary_results_as_postgresql_does(uint type, string text, byte[] expected) =>
        Assert.Equal(expected, WireValues.ToBinary(type, text));

    [Theory]
    [InlineData(new byte[] { 0, 2, 0, 0, 0, 0, 0, 4, 0, 12, 0x0d, 0x80 }, "12.3456")] // base-10000 digits 12, 3456
    [InlineData(new byte[] { 0, 1, 0xff, 0xff, 0x40, 0, 0, 1, 0x13, 0x88 }, "-0.5")] // weight -1, negative
    [InlineData(new byte[] { 0, 1, 0, 1, 0, 0, 0, 0, 0, 7 }, "70000")] // weight 1: a trailing zero group
    public void Reads_binary_numeric_parameters(byte[] value, string expected) =>
        Assert.Equal(expected, WireValues.FromBinary(WireValues.Numeric, value, out _));

    [Fact]
    public void A_binary_parameter_of_a_type_it_does_not_read_is_refused_with_a_reason()
    {
        Assert.Null(WireValues.FromBinary(600 /* point */, new byte[16], out var error));
        Assert.Contains("text format", error);
        Assert.Null(WireValues.FromBinary(WireValues.Int4, [1, 2], out error)); // too short for an int4
        Assert.NotNull(error);
        Assert.Null(WireValues.FromBinary(0, [1], out error)); // no declared type
        Assert.Contains("type in Parse", error);
    }
}
