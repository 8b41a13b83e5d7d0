using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Portcullis.Contracts;

namespace Portcullis.Policy.Simulation;

/// <summary>
/// The decisions recorded in a time range, read from the audit service's export (JSON Lines, streamed), with the
/// caller's own token: whoever simulates must also be allowed to read the record, and the audit service says so.
/// </summary>
public sealed class RecordedDecisions(HttpClient audit)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>Opens the export; throws <see cref="RecordUnavailableException"/> when the audit service refuses or fails.</summary>
    public async Task<HttpResponseMessage> OpenAsync(DateTimeOffset from, DateTimeOffset to, string? authorization,
        CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get,
            $"export?from={Uri.EscapeDataString(from.ToString("O"))}&to={Uri.EscapeDataString(to.ToString("O"))}");
        if (authorization is not null && AuthenticationHeaderValue.TryParse(authorization, out var header))
            request.Headers.Authorization = header;
        HttpResponseMessage response;
        try
        {
            response = await audit.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new RecordUnavailableException(503, $"The audit service cannot be reached: {ex.Message}");
        }
        if (response.IsSuccessStatusCode) return response;
        var status = response.StatusCode;
        response.Dispose();
        throw status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            ? new RecordUnavailableException(403, "Reading the recorded actions needs the auditor group as well: the audit service refused this token.")
            : new RecordUnavailableException(503, $"The audit service answered {(int)status} to the export.");
    }

    /// <summary>Every PolicyEvaluated of the export, once per request, in recording order.</summary>
    public static async IAsyncEnumerable<PolicyEvaluated> ReadAsync(HttpResponseMessage export,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var body = await export.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(body);
        var seen = new HashSet<Guid>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0) continue;
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            if (root.GetProperty("type").GetString() != nameof(PolicyEvaluated)) continue;
            var evaluated = root.GetProperty("data").Deserialize<PolicyEvaluated>(Json);
            if (evaluated?.Action is null || evaluated.Principal is null || !seen.Add(evaluated.RequestId)) continue;
            yield return evaluated;
        }
    }
}

public sealed class RecordUnavailableException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
