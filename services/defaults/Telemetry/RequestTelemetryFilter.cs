using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using Portcullis.Contracts;

namespace Portcullis.Defaults.Telemetry;

/// <summary>
/// Every consumed message of the request saga names its request and session: on the consumer's span (the trace
/// can be found by either) and in a logging scope around the consumer (every line it logs says them).
/// </summary>
public sealed class RequestTelemetryFilter<T>(ILogger<RequestTelemetryFilter<T>> logger) : IFilter<ConsumeContext<T>>
    where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        if (context.Message is not IRequestMessage message)
        {
            await next.Send(context);
            return;
        }
        PortcullisActivities.Tag(Activity.Current, message.RequestId, message.SessionId);
        using (logger.BeginScope(new RequestLogScope { RequestId = message.RequestId, SessionId = message.SessionId }))
            await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("portcullis-request-telemetry");
}
