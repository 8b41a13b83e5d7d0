using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Portcullis.Contracts;

namespace Portcullis.Gateway.RequestFlow;

/// <summary>
/// The identity of an action as an approver approves it: one SHA-256 over the connection, the protocol and the whole
/// action (SQL text and parameters; method, path, query, content type and encoding, and the body's bytes; the
/// command). Computed here and nowhere else; the approval service stores it with the approval and compares it
/// when the action is claimed, so an approval covers exactly the action that was shown to the approver.
/// </summary>
public static class ActionDigest
{
    private const string Version = "portcullis-action-v1";
    private const int PreviewBytes = 2048;

    /// <summary>The hash of <paramref name="action"/>, with the HTTP body and its headers when it has one.</summary>
    public static string Of(AgentAction action, ReadOnlySpan<byte> body = default, string? contentType = null,
        string? contentEncoding = null)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // Every field length-prefixed and in a fixed order: no two different actions share the hashed bytes, and
        // no text (invalid UTF-16 included) can make the encoding fail.
        foreach (var field in new[] { Version, action.Protocol, action.Connection, action.Method, action.Path, action.Query,
                     action.Sql, action.Parameters, action.Command, contentType, contentEncoding })
            Append(hash, field);
        if (action.Protocol == Protocols.Http) Append(hash, Convert.ToHexStringLower(SHA256.HashData(body)));
        // Only MCP actions carry these; appended for them alone, so every other action's digest is unchanged.
        if (action.Protocol == Protocols.Mcp)
        {
            Append(hash, action.Tool);
            Append(hash, action.Arguments);
            // Resources and prompts came later: appended only when set, so a tool call's digest is unchanged.
            if (action.Resource is not null || action.Prompt is not null) { Append(hash, action.Resource); Append(hash, action.Prompt); }
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// The hash of the request's action, and for HTTP the body read into memory (so the bytes forwarded are the
    /// bytes hashed) with a preview for approvers; null when the body is larger than <paramref name="maxBodyBytes"/>.
    /// </summary>
    public static async Task<(string Hash, string? BodyPreview)?> OfRequestAsync(HttpContext context, AgentAction action,
        int maxBodyBytes)
    {
        if (action.Protocol != Protocols.Http) return (Of(action), null);
        var request = context.Request;
        if (request.ContentLength > maxBodyBytes) return null;
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > maxBodyBytes) return null;
            buffer.Write(chunk, 0, read);
        }
        var body = buffer.ToArray();
        // The forward reads from here: exactly the bytes that were hashed and shown.
        request.Body = new MemoryStream(body, writable: false);
        var contentType = request.Headers.ContentType.ToString();
        var contentEncoding = request.Headers.ContentEncoding.ToString();
        return (Of(action, body, contentType.Length == 0 ? null : contentType, contentEncoding.Length == 0 ? null : contentEncoding),
            Preview(body, contentType));
    }

    private static string? Preview(byte[] body, string contentType)
    {
        if (body.Length == 0) return null;
        var shown = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, PreviewBytes)).TrimEnd('\uFFFD');
        var type = contentType.Length == 0 ? "no content type" : contentType;
        return body.Length <= PreviewBytes
            ? $"({type}, {body.Length} bytes)\n{shown}"
            : $"({type}, {body.Length} bytes, the first {PreviewBytes} shown)\n{shown}";
    }

    private static void Append(IncrementalHash hash, string? field)
    {
        Span<byte> length = stackalloc byte[9];
        length[0] = field is null ? (byte)0 : (byte)1;
        BinaryPrimitives.WriteInt64LittleEndian(length[1..], field?.Length ?? 0);
        hash.AppendData(length);
        // UTF-16 code units as they are (the platforms .NET runs on are little-endian), lone surrogates included.
        if (field is not null) hash.AppendData(MemoryMarshal.AsBytes(field.AsSpan()));
    }
}
