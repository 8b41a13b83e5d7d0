using BenchmarkDotNet.Attributes;
using Portcullis.Defaults.Configuration;
using Portcullis.Masking;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;
using Portcullis.Masking.Rules;

namespace Portcullis.Benchmarks;

/// <summary>
/// Masking throughput over 1 MiB of mixed JSON: every detector on, against the email detector alone
/// (the baseline, measured in the same run). MB/s = 1.0 / mean in seconds. Fifteen iterations rather than
/// a short run's three: on a shared host three say little (a short run's error was four times its mean).
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 15)]
public class MaskingBenchmarks
{
    private byte[] _json = [];
    private ContentMasker _all = null!;
    private ContentMasker _emailOnly = null!;

    [GlobalSetup]
    public void Setup()
    {
        _json = MixedJson.Make(1 << 20);
        _all = new ContentMasker(MaskingPolicy.From(new MaskingConfig { Detectors = ["all"] }, null));
        _emailOnly = new ContentMasker(MaskingPolicy.From(new MaskingConfig { Detectors = ["email"] }, null));
    }

    [Benchmark(Baseline = true)]
    public void Email_detector_only_1MiB() => _emailOnly.Mask("demo", "application/json", Input(), Stream.Null, new MaskingTally());

    [Benchmark]
    public void All_detectors_1MiB() => _all.Mask("demo", "application/json", Input(), Stream.Null, new MaskingTally());

    private MemoryStream Input() => new(_json, writable: false);
}
