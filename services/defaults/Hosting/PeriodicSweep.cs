using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Portcullis.Defaults.Hosting;

/// <summary>
/// Work a service does now and then every <see cref="Interval"/> until it stops (expiring overdue
/// approvals, archiving sessions past retention). A failed run is logged, saying what it left as it was,
/// and tried again at the next interval; the loop itself never ends on a failure.
/// </summary>
public abstract class PeriodicSweep(TimeProvider clock, ILogger logger) : BackgroundService
{
    protected TimeProvider Clock => clock;
    protected ILogger Logger => logger;

    protected abstract TimeSpan Interval { get; }

    /// <summary>What a failed run leaves safe, for the log line (e.g. "nothing was removed that is not archived").</summary>
    protected virtual string AfterFailure => "nothing was changed";

    protected abstract Task SweepAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, clock);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("{Sweep} failed ({Reason}: {Message}); {AfterFailure}. Retrying in {Interval}",
                    GetType().Name, ex.GetType().Name, ex.Message, AfterFailure, Interval);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
