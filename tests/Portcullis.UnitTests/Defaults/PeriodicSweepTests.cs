using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Portcullis.Defaults.Hosting;

namespace Portcullis.UnitTests.Defaults;

public class PeriodicSweepTests
{
    private sealed class FlakySweep(int failures) : PeriodicSweep(TimeProvider.System, NullLogger.Instance)
    {
        public int Runs;
        public readonly TaskCompletionSource Succeeded = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override TimeSpan Interval => TimeSpan.FromMilliseconds(10);

        protected override Task SweepAsync(CancellationToken cancellationToken)
        {
            if (++Runs <= failures) throw new InvalidOperationException("the store is down");
            Succeeded.TrySetResult();
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task A_failed_run_is_tried_again_at_the_next_interval_and_the_loop_goes_on()
    {
        var sweep = new FlakySweep(failures: 2);
        await sweep.StartAsync(CancellationToken.None);
        await sweep.Succeeded.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await sweep.StopAsync(CancellationToken.None);
        Assert.True(sweep.Runs >= 3, $"ran {sweep.Runs} times");
        Assert.True(sweep.ExecuteTask!.IsCompletedSuccessfully || sweep.ExecuteTask.IsCanceled);
    }
}
