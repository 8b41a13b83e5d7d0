using System.Buffers.Binary;
using System.Collections.Concurrent;
using Dapr.Client.Autogen.Grpc.v1;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Portcullis.EndToEndTests.Infrastructure;

/// <summary>
/// A gRPC endpoint that speaks the Dapr runtime API (dapr.proto.runtime.v1.Dapr) as a daprd sidecar with a
/// secret store and an output binding does: GetSecret and InvokeBinding, using the Dapr.Protos messages and
/// gRPC's framing over HTTP/2. It records every request so a test can see a service asked the sidecar.
/// </summary>
public sealed class DaprRuntimeEndpoint : IAsyncDisposable
{
    private readonly WebApplication _app;

    public ConcurrentQueue<(string Store, string Key)> Requests { get; } = new();
    public ConcurrentQueue<InvokeBindingRequest> Bindings { get; } = new();
    public int Port { get; }

    private DaprRuntimeEndpoint(WebApplication app, int port) => (_app, Port) = (app, port);

    public static async Task<DaprRuntimeEndpoint> StartAsync(string store, IReadOnlyDictionary<string, string> secrets, int port,
        string? binding = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.ListenLocalhost(port, listen => listen.Protocols = HttpProtocols.Http2)); // gRPC over h2c
        var app = builder.Build();
        var endpoint = new DaprRuntimeEndpoint(app, port);
        app.MapPost("/dapr.proto.runtime.v1.Dapr/GetSecret", async context =>
        {
            var request = GetSecretRequest.Parser.ParseFrom(await ReadMessage(context.Request.Body));
            endpoint.Requests.Enqueue((request.StoreName, request.Key));
            var response = new GetSecretResponse();
            var status = "0";
            if (request.StoreName == store && secrets.TryGetValue(request.Key, out var value)) response.Data[request.Key] = value;
            else status = "5"; // NOT_FOUND
            context.Response.ContentType = "application/grpc";
            context.Response.AppendTrailer("grpc-status", status);
            if (status == "0") await WriteMessage(context.Response.Body, response.ToByteArray());
        });
        app.MapPost("/dapr.proto.runtime.v1.Dapr/InvokeBinding", async context =>
        {
            var request = InvokeBindingRequest.Parser.ParseFrom(await ReadMessage(context.Request.Body));
            context.Response.ContentType = "application/grpc";
            if (request.Name != binding)
            {
                context.Response.AppendTrailer("grpc-status", "5");
                return;
            }
            endpoint.Bindings.Enqueue(request);
            context.Response.AppendTrailer("grpc-status", "0");
            await WriteMessage(context.Response.Body, new InvokeBindingResponse().ToByteArray());
        });
        await app.StartAsync();
        return endpoint;
    }

    private static async Task<byte[]> ReadMessage(Stream body)
    {
        var header = new byte[5]; // compressed flag, then the message length (big-endian)
        await body.ReadExactlyAsync(header);
        var message = new byte[BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(1))];
        await body.ReadExactlyAsync(message);
        return message;
    }

    private static async Task WriteMessage(Stream body, byte[] message)
    {
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1), (uint)message.Length);
        await body.WriteAsync(header);
        await body.WriteAsync(message);
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
