using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Portcullis.Gateway.Mcp;

/// <summary>
/// An upstream tool's progress, passed to the agent that asked for it (its request's progress token): the numbers
/// only. A progress message is the upstream's free text and is not masked, so it is never passed on.
/// </summary>
public sealed class McpProgressRelay(McpServer session, ProgressToken token) : IProgress<ProgressNotificationValue>
{
    public void Report(ProgressNotificationValue value) =>
        _ = session.NotifyProgressAsync(token, new ProgressNotificationValue { Progress = value.Progress, Total = value.Total })
            .ContinueWith(sent => _ = sent.Exception, TaskScheduler.Default); // a session that is gone misses its progress
}
