using MassTransit;
using Microsoft.Extensions.Options;
using Portcullis.Contracts;
using Portcullis.Defaults.Auth;
using Portcullis.Defaults.Bus;
using Portcullis.Defaults.Telemetry;
using Portcullis.Gateway.Recording;
using Portcullis.Gateway.Sessions;

namespace Portcullis.Gateway.RequestFlow;

/// <summary>
/// The steps every agent request takes through the gateway, whatever its protocol: begin (session, checked
/// action), decide (RequestReceived broker-confirmed, then the policy's answer within the deadline), record
/// what the upstream answered, mask it, and finish (RequestCompleted confirmed, then deliver). A step that
/// cannot complete turns the request into a refusal; nothing unrecorded or unmasked is delivered.
/// </summary>
public sealed class AgentRequestFlow(
    SessionResolver sessions,
    SessionLedger sessionLedger,
    AgentResponses responses,
    ApprovalGate approvals,
    AuditRecordingMonitor recording,
    IOptions<GatewayOptions> options,
    TimeProvider clock,
    ILogger<AgentRequestFlow> logger)
{
    /// <summary>
    /// Starts a request, or answers (and returns null) 503 when the audit is behind, 400 when its session id is
    /// malformed or reserved, 403 when the session belongs to another identity.
    /// </summary>
    public async Task<AgentRequest?> BeginAsync(HttpContext context, AgentAction action)
    {
        // Strict recording: while the audit trail is not keeping up, nothing starts (nothing published, nothing run).
        if (recording.Refusal() is { } behind)
        {
            await recording.RefuseAsync(context, behind);
            return null;
        }
        var session = sessions.Resolve(context);
        if (session.SessionId is null)
        {
            await responses.BadRequest(context, session.Error!);
            return null;
        }
        Guid? approvalId = null;
        if (context.Request.Headers[ApprovalGate.Header] is { Count: > 0 } presented)
        {
            if (!Guid.TryParse(presented.ToString(), out var parsed))
            {
                await responses.BadRequest(context, $"The {ApprovalGate.Header} header must be the approval id the gateway gave (a GUID).");
                return null;
            }
            approvalId = parsed;
        }
        // Only the identity that opened a session acts in it (403 otherwise); its requests are numbered 1, 2, 3...
        if (await sessionLedger.ClaimAsync(context, session.SessionId) is not { } sequence) return null;
        var request = new AgentRequest(NewId.NextGuid(), session.SessionId, action)
        {
            PresentedApprovalId = approvalId,
            SessionSequence = sequence,
        };
        context.Features.Set(request);
        Telemetry.IdentifyRequest(context, request.RequestId, request.SessionId);
        return request;
    }

    /// <summary>The allowing decision, or null when the request was refused (its refusal is prepared).</summary>
    public async Task<PolicyEvaluated?> DecideAsync(HttpContext context, AgentRequest request)
    {
        var decisions = context.RequestServices.GetRequiredService<IRequestClient<RequestReceived>>();
        var received = new RequestReceived(request.RequestId, request.SessionId, context.User.ToPrincipal(),
            request.Action, clock.GetUtcNow(), request.SessionSequence);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(options.Value.DecisionTimeout);
        PolicyEvaluated decision;
        try
        {
            // The request client publishes RequestReceived and returns only after the broker confirmed it.
            var response = await decisions.GetResponse<PolicyEvaluated>(received,
                // No time-to-live: the same message is the audit's record and must not expire in its queue. Its id is
                // derived: the transport sends again, as a new message, what the broker kept without confirming it.
                pipe => pipe.UseExecute(send => (send.TimeToLive, send.MessageId) =
                    (null, EventMessageId.For<RequestReceived>(request.RequestId))),
                deadline.Token, RequestTimeout.After(ms: (int)options.Value.DecisionTimeout.TotalMilliseconds))
                // The deadline holds even when the transport does not let go: a send faulted by a connection closing
                // under it (AlreadyClosedException) was seen to keep the request client waiting past its token.
                .WaitAsync(deadline.Token);
            decision = response.Message;
        }
        // A channel closed under the publish (AlreadyClosedException) is the broker going too, not a gateway fault.
        catch (Exception ex) when (ex is RequestTimeoutException or OperationCanceledException or MassTransitException
                                       or RabbitMQ.Client.Exceptions.BrokerUnreachableException
                                       or RabbitMQ.Client.Exceptions.RabbitMQClientException)
        {
            logger.LogWarning("Request {RequestId}: no policy decision ({Reason}: {Message}); refused",
                request.RequestId, ex.GetType().Name, ex.InnerException?.Message ?? ex.Message);
            // The number is spent and RequestReceived may never reach the audit: the void accounts for it (an outbox).
            await sessionLedger.VoidAsync(request.SessionId, request.SessionSequence, request.RequestId,
                $"refused with 503: no policy decision ({ex.GetType().Name})", clock.GetUtcNow());
            responses.Unavailable(context, request, "No policy decision arrived within the deadline.");
            return null;
        }

        switch (decision.Decision)
        {
            case Decision.Allow:
                request.Obligations = decision.Obligations ?? Obligations.None;
                return decision;
            case Decision.RequireApproval:
                var waiting = System.Diagnostics.Stopwatch.GetTimestamp();
                var passed = await approvals.PassAsync(context, request, decision);
                request.ApprovalWaitMs = System.Diagnostics.Stopwatch.GetElapsedTime(waiting).TotalMilliseconds;
                if (!passed) return null;
                request.Obligations = decision.Obligations ?? Obligations.None;
                return decision;
            default:
                responses.Denied(context, request, decision);
                return null;
        }
    }

    /// <summary>
    /// Records that the action ran upstream. The publish runs while the output is masked (its broker confirmation is
    /// one round trip and a disk write the masking need not wait for); <see cref="ForwardRecordedAsync"/> awaits it
    /// before the request completes.
    /// </summary>
    public Task ForwardedAsync(HttpContext context, AgentRequest request, string upstream, int status, long bytes) =>
        context.RequestServices.GetRequiredService<IPublishEndpoint>().Publish(new RequestForwarded(
            request.RequestId, request.SessionId, request.Action.Connection, upstream, status, bytes, request.ElapsedMs,
            clock.GetUtcNow()), publish => publish.MessageId = EventMessageId.For<RequestForwarded>(request.RequestId),
            context.RequestAborted);

    /// <summary>
    /// Waits for the forward's record to be confirmed; when it is not, the output is withheld and the agent gets a
    /// refusal (RequestCompleted, published after this, says so).
    /// </summary>
    public async Task ForwardRecordedAsync(HttpContext context, AgentRequest request, Task forwarded)
    {
        try
        {
            await forwarded;
        }
        catch (Exception ex)
        {
            logger.LogError("Request {RequestId}: RequestForwarded could not be published ({Reason}); output withheld",
                request.RequestId, ex.GetType().Name);
            if (!context.Response.HasStarted)
                responses.Unavailable(context, request, "The forward could not be recorded in the audit trail.");
        }
    }

    /// <summary>
    /// Has <paramref name="body"/> masked and makes the masked form the request's output; on failure prepares
    /// the refusal instead. Returns whether the output is the masked body.
    /// </summary>
    public async Task<bool> MaskAsync(HttpContext context, AgentRequest request, string contentType, byte[] body,
        bool withResponseHeaders = false)
    {
        var settings = options.Value;
        if (request.Obligations.MaxOutputBytes is { } cap && body.LongLength > cap)
        {
            responses.UpstreamFailed(context, request, StatusCodes.Status502BadGateway,
                $"The output is {body.LongLength} bytes, more than the {cap} the policy allows for this action; it is withheld.");
            return false;
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(settings.MaskingTimeout);
        try
        {
            var headers = withResponseHeaders ? MaskableHeaders(context.Response.Headers) : null;
            // An MCP tool's SQL rows with masked columns are masked whole: the column rules need the whole text.
            var (maskedBody, maskedHeaders) = body.Length > settings.MaskingChunkBytes && ColumnOrigins(request) is null
                ? await MaskInChunksAsync(context, request, contentType, body, headers, deadline.Token)
                : await MaskWholeAsync(context, request, contentType, body, headers, deadline.Token);
            if (headers is not null)
            {
                // What the upstream's headers carry (cookies, debug tokens, locations) is masked like the body.
                if (maskedHeaders is not { } masked || masked.Count != headers.Count)
                {
                    responses.UpstreamFailed(context, request, StatusCodes.Status502BadGateway,
                        "The upstream's response headers could not be masked, so the answer is withheld.");
                    return false;
                }
                foreach (var (name, values) in masked) context.Response.Headers[name] = values;
            }
            request.Output = maskedBody;
            request.OutputContentType = contentType;
            return true;
        }
        catch (RequestFaultException ex)
        {
            logger.LogWarning("Request {RequestId}: masking refused the output ({Fault})", request.RequestId,
                ex.Fault?.Exceptions.FirstOrDefault()?.ExceptionType);
            responses.UpstreamFailed(context, request, StatusCodes.Status502BadGateway,
                $"The output (content type '{contentType}') could not be masked, so it is withheld.");
            return false;
        }
        catch (Exception ex) when (ex is RequestTimeoutException or OperationCanceledException or MassTransitException)
        {
            logger.LogWarning("Request {RequestId}: masking did not answer ({Reason})", request.RequestId, ex.GetType().Name);
            responses.Unavailable(context, request, "The masking service did not answer within the deadline.");
            return false;
        }
    }

    /// <summary>The masked output columns policy found in an MCP call's SQL argument (their values are masked by column rule), or null.</summary>
    private static IReadOnlyDictionary<string, IReadOnlyList<string>>? ColumnOrigins(AgentRequest request) =>
        request.Action.Protocol == Protocols.Mcp && request.Obligations.ColumnOrigins is { Count: > 0 } origins ? origins : null;

    private async Task<(byte[] Body, IReadOnlyDictionary<string, string[]>? Headers)> MaskWholeAsync(HttpContext context,
        AgentRequest request, string contentType, byte[] body, Dictionary<string, string[]>? headers, CancellationToken cancellationToken)
    {
        var masking = context.RequestServices.GetRequiredService<IRequestClient<MaskContent>>();
        var response = await masking.GetResponse<ContentMasked>(
            new MaskContent(request.RequestId, request.SessionId, request.Action.Connection, contentType, body, headers,
                ColumnOrigins(request)),
            // Transient: the raw output is never written to the broker's disk, and a request lost with a broker restart
            // is answered 503 at the deadline, as any silent masking is.
            pipe => pipe.UseExecute(send => send.Durable = false),
            cancellationToken, RequestTimeout.After(ms: (int)options.Value.MaskingTimeout.TotalMilliseconds));
        return (response.Message.Body, response.Message.Headers);
    }

    /// <summary>
    /// A large output goes as a stream: opened on any masking instance, then sent chunk by chunk, in order,
    /// to that instance's own queue (it keeps the masker's state between chunks). Each answer is the masked
    /// output its chunk completed.
    /// </summary>
    private async Task<(byte[] Body, IReadOnlyDictionary<string, string[]>? Headers)> MaskInChunksAsync(HttpContext context,
        AgentRequest request, string contentType, byte[] body, Dictionary<string, string[]>? headers, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var timeout = RequestTimeout.After(ms: (int)settings.MaskingTimeout.TotalMilliseconds);
        var open = context.RequestServices.GetRequiredService<IRequestClient<OpenMaskingStream>>();
        var opened = (await open.GetResponse<MaskingStreamOpened>(
            new OpenMaskingStream(request.RequestId, request.SessionId, request.Action.Connection, contentType, headers),
            cancellationToken, timeout)).Message;
        // Sent, never published: the raw chunks reach that one queue and nothing else.
        var chunks = context.RequestServices.GetRequiredService<IBus>().CreateRequestClient<MaskChunk>(opened.ChunkAddress, timeout);
        using var masked = new MemoryStream(body.Length + 1024);
        var size = Math.Max(1, settings.MaskingChunkBytes);
        for (int at = 0, sequence = 0; at < body.Length; at += size, sequence++)
        {
            var length = Math.Min(size, body.Length - at);
            var answer = await chunks.GetResponse<ChunkMasked>(new MaskChunk(request.RequestId, request.SessionId, sequence,
                body.AsSpan(at, length).ToArray(), Final: at + length == body.Length), cancellationToken, timeout);
            masked.Write(answer.Message.Bytes);
        }
        logger.LogDebug("Request {RequestId}: {Bytes} bytes masked in chunks of {Chunk}", request.RequestId, body.Length, size);
        return (masked.ToArray(), opened.Headers);
    }

    /// <summary>
    /// The whole flow for an action the gateway runs itself (SQL, commands): begin, decide, run the connector,
    /// record the forward, mask the output (errors included), finish and deliver.
    /// </summary>
    public async Task RunAsync(HttpContext context, AgentAction action, Func<AgentRequest, Task<ConnectorOutput>> execute)
    {
        if (await BeginAsync(context, action) is not { } request) return;
        try
        {
            if (await DecideAsync(context, request) is null) return;
            request.UpstreamStarted();
            var output = await execute(request);
            request.UpstreamAnswered();
            var forwarded = ForwardedAsync(context, request, output.Upstream, output.Status, output.Body.LongLength);
            try
            {
                if (await MaskAsync(context, request, output.MaskAs ?? output.ContentType, output.Body))
                {
                    request.OutputContentType = output.ContentType;
                    context.Response.StatusCode = output.Status;
                    context.Response.ContentType = output.ContentType;
                    context.Response.ContentLength = request.Output!.Length;
                    if (output.Status >= 400) request.Outcome = Outcomes.UpstreamFailed;
                }
            }
            finally
            {
                await ForwardRecordedAsync(context, request, forwarded);
            }
        }
        finally
        {
            await FinishAsync(context, request);
        }
    }

    // Framing headers are the gateway's own; every other header is the upstream's and is masked.
    private static readonly HashSet<string> FramingHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "Content-Length", "Content-Type", "Transfer-Encoding", "Date", "Connection", "Server" };

    private static Dictionary<string, string[]> MaskableHeaders(IHeaderDictionary headers) =>
        headers.Where(h => !FramingHeaders.Contains(h.Key))
            .ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? "").ToArray(), StringComparer.OrdinalIgnoreCase);

    /// <summary>The request's outcome, the upstream's time and the gateway's own (what is left of the total).</summary>
    private static void Measure(AgentRequest request)
    {
        var protocol = new KeyValuePair<string, object?>("protocol", request.Action.Protocol);
        PortcullisMetrics.Requests.Add(1, protocol, new("outcome", request.Outcome), new("connection", request.Action.Connection));
        var upstream = request.UpstreamMs ?? 0;
        if (request.UpstreamMs is { } ms)
            PortcullisMetrics.UpstreamLatency.Record(ms, protocol, new("connection", request.Action.Connection));
        PortcullisMetrics.GatewayOverhead.Record(Math.Max(0, request.ElapsedMs - upstream - request.ApprovalWaitMs), protocol);
    }

    /// <summary>Records how the request completed, with its output, and only then delivers that output.</summary>
    public async Task FinishAsync(HttpContext context, AgentRequest request)
    {
        var publisher = context.RequestServices.GetRequiredService<IPublishEndpoint>();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(options.Value.DecisionTimeout);
        try
        {
            await publisher.Publish(new RequestCompleted(request.RequestId, request.SessionId, request.Outcome,
                    context.Response.StatusCode, request.ElapsedMs, responses.Capture(request), clock.GetUtcNow(), request.Rows),
                publish => publish.MessageId = EventMessageId.For<RequestCompleted>(request.RequestId), deadline.Token);
        }
        catch (Exception ex)
        {
            // Unrecorded output is not delivered: the agent gets a refusal instead.
            logger.LogError("Request {RequestId}: RequestCompleted could not be published ({Reason}); output withheld",
                request.RequestId, ex.GetType().Name);
            if (!context.Response.HasStarted)
                responses.Unavailable(context, request, "The result could not be recorded in the audit trail.");
        }
        Measure(request);
        await AgentResponses.Deliver(context, request);
    }
}

/// <summary>What a connector produced: the status and body to mask and return, and where it ran (no credentials).</summary>
/// <remarks><paramref name="MaskAs"/> names the body's shape for the masker when it is more than its content type (SQL results).</remarks>
public sealed record ConnectorOutput(int Status, string ContentType, byte[] Body, string Upstream, string? MaskAs = null);
