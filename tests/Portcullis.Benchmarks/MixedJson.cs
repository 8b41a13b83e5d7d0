using System.Text;

namespace Portcullis.Benchmarks;

/// <summary>
/// Mixed JSON as APIs return it: records with names, emails, phones, cards, IBANs, IPs, keys and plenty of
/// ordinary text and numbers. Made with a fixed seed; the same bytes every run.
/// </summary>
public static class MixedJson
{
    public static byte[] Make(int bytes)
    {
        var random = new Random(7);
        var json = new StringBuilder(bytes + 1024).Append("{\"items\":[");
        var i = 0;
        while (json.Length < bytes)
        {
            if (i > 0) json.Append(',');
            json.Append(Record(random, i++));
        }
        return Encoding.UTF8.GetBytes(json.Append("]}").ToString());
    }

    /// <summary>A stream of such JSON of any length, made as it is read, so its size costs no memory.</summary>
    public sealed class Generated(long length) : Stream
    {
        private readonly Random _random = new(7);
        private byte[] _pending = "{\"items\":["u8.ToArray();
        private int _at;
        private long _produced;
        private int _records;
        private bool _closed;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var written = 0;
            while (written < count)
            {
                if (_at == _pending.Length)
                {
                    if (_closed) break;
                    if (_produced >= length) { _pending = "]}"u8.ToArray(); _closed = true; }
                    else _pending = Encoding.UTF8.GetBytes((_records > 0 ? "," : "") + Record(_random, _records++));
                    _at = 0;
                }
                var n = Math.Min(count - written, _pending.Length - _at);
                Array.Copy(_pending, _at, buffer, offset + written, n);
                (_at, written, _produced) = (_at + n, written + n, _produced + n);
            }
            return written;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _produced; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private static string Record(Random r, int i) =>
        $$"""{"id":{{i}},"name":"Customer {{r.Next(100000)}}","email":"user{{r.Next(100000)}}@example.com","phone":"+31 6 {{r.Next(1000, 9999)}} {{r.Next(1000, 9999)}}","card":"4111 1111 1111 1111","iban":"NL91 ABNA 0417 1643 00","ip":"10.{{r.Next(256)}}.{{r.Next(256)}}.{{r.Next(1, 255)}}","balance":{{r.Next(100000)}}.{{r.Next(100):00}},"active":{{(r.Next(2) == 0 ? "true" : "false")}},"notes":"Order {{r.Next(1000000)}} shipped to warehouse {{r.Next(50)}}; contact support if delayed. Tracking code ZX{{r.Next(100000000)}}.","config":"region=eu-west-1 key={{(i % 50 == 0 ? "AKIAIOSFODNN7EXAMPLE" : "none")}} retries=3","tags":["priority","retail","{{r.Next(1000)}}"]}""";
}
