namespace Portcullis.Gateway.Connectors.Mcp;

/// <summary>
/// Bounds what an upstream MCP server over HTTP may send in answer to one request (a POST: the JSON-RPC answer, or the
/// event stream that carries it): more than the limit fails the read, so a server answering without end cannot fill
/// the gateway's memory before the result's own size check (<c>Gateway:MaxResponseBytes</c>) withholds it. The GET
/// stream of server notifications lives as long as the session and is not counted.
/// </summary>
public sealed class McpResponseLimit(long limit) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (request.Method != HttpMethod.Post) return response;
        if (response.Content.Headers.ContentLength > limit)
        {
            response.Dispose();
            throw new HttpRequestException($"The MCP server's answer is larger than {limit} bytes.");
        }
        var bounded = new StreamContent(new LimitedStream(await response.Content.ReadAsStreamAsync(cancellationToken), limit));
        foreach (var (name, values) in response.Content.Headers) bounded.Headers.TryAddWithoutValidation(name, values);
        response.Content = bounded;
        return response;
    }

    private sealed class LimitedStream(Stream inner, long limit) : ReadOnlyStream(inner)
    {
        private long _read;

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(Inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await Inner.ReadAsync(buffer, cancellationToken));

        private int Count(int read)
        {
            _read += read;
            return _read > limit ? throw new IOException($"The MCP server's answer is larger than {limit} bytes; it is not read further.") : read;
        }
    }
}
