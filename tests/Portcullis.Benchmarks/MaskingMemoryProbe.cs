using System.Diagnostics;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;
using Portcullis.Masking.Rules;

namespace Portcullis.Benchmarks;

/// <summary>
/// Peak memory while masking JSON of growing size: streamed (64 KiB window) against the whole body in
/// memory (the baseline, in the same run). BenchmarkDotNet counts allocations, not peaks, so this measures
/// the managed heap's peak with a sampler thread and a full collection before each size.
/// </summary>
public static class MaskingMemoryProbe
{
    public static void Run()
    {
        var masker = new ContentMasker(MaskingPolicy.From(new MaskingConfig { Detectors = ["all"] }, null));
        Console.WriteLine("dotnet run -c Release --project tests/Portcullis.Benchmarks -- --memory-probe");
        Console.WriteLine($"| {"input",8} | {"streamed: peak heap",20} | {"whole body: peak heap",22} | {"streamed MB/s",13} |");
        Console.WriteLine("|---------:|---------------------:|-----------------------:|--------------:|");
        foreach (var megabytes in new[] { 8, 32, 128 })
        {
            var size = megabytes * 1024L * 1024;
            var (streamedPeak, seconds) = Peak(() => masker.Mask("demo", "application/json", new MixedJson.Generated(size), Stream.Null, new MaskingTally()));
            var (wholePeak, _) = Peak(() =>
            {
                using var body = new MemoryStream();
                new MixedJson.Generated(size).CopyTo(body);
                masker.Mask("demo", "application/json", body.ToArray(), new MaskingTally());
            });
            Console.WriteLine($"| {megabytes,5} MB | {streamedPeak / 1048576.0,17:0.0} MB | {wholePeak / 1048576.0,19:0.0} MB | {megabytes / seconds,13:0.0} |");
        }
    }

    private static (long PeakBytes, double Seconds) Peak(Action work)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        using var done = new ManualResetEventSlim();
        var sampler = new Thread(() =>
        {
            while (!done.IsSet)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(false) - baseline);
                Thread.Sleep(1);
            }
        }) { IsBackground = true };
        sampler.Start();
        var clock = Stopwatch.StartNew();
        work();
        clock.Stop();
        done.Set();
        sampler.Join();
        return (peak, clock.Elapsed.TotalSeconds);
    }
}
