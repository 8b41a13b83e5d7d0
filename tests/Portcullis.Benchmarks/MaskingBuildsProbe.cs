using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;

namespace Portcullis.Benchmarks;

/// <summary>
/// Two builds of the masking service side by side in one process, alternated round by round over the
/// benchmark's MiB of mixed JSON: on a host whose speed drifts from minute to minute, consecutive runs of one
/// build differ by more than most changes gain, while alternating rounds share the drift.
/// <code>
/// git stash; dotnet build -c Release services/masking; cp -r services/masking/bin/Release/net10.0 /tmp/before; git stash pop
/// dotnet build -c Release services/masking
/// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --masking-builds /tmp/before services/masking/bin/Release/net10.0
/// </code>
/// </summary>
public static class MaskingBuildsProbe
{
    public static void Run(string before, string after, string detectors = "all")
    {
        var json = MixedJson.Make(1 << 20);
        string[] dirs = [Path.GetFullPath(before), Path.GetFullPath(after)];
        var runs = dirs.Select(dir => Masker(dir, detectors, json)).ToArray();
        foreach (var run in runs)
            for (var i = 0; i < 30; i++) run(); // warm up to the optimised code
        var times = new List<double>[] { [], [] };
        for (var round = 0; round < 22; round++)
            foreach (var k in round % 2 == 0 ? [0, 1] : new[] { 1, 0 }) // each goes first in half the rounds
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < 8; i++) runs[k]();
                times[k].Add(watch.Elapsed.TotalMilliseconds / 8);
            }
        for (var k = 0; k < 2; k++)
        {
            times[k].Sort();
            Console.WriteLine($"{(k == 0 ? "before" : "after "),-7} {dirs[k]}: median {Median(times[k]):F2} ms per MiB (min {times[k][0]:F2}, " +
                              $"quartiles {times[k][5]:F2}-{times[k][16]:F2}), {1.048576 / (Median(times[k]) / 1000):F0} MB/s");
        }
        Console.WriteLine($"after/before, medians: {Median(times[1]) / Median(times[0]):F3}");
    }

    private static double Median(List<double> sorted) => (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;

    // A ContentMasker of the build in dir, through reflection: each build's types live in their own load context.
    private static Action Masker(string dir, string detectors, byte[] json)
    {
        var context = new BuildContext(dir);
        var masking = context.LoadFromAssemblyPath(Path.Combine(dir, "Portcullis.Masking.dll"));
        var defaults = context.LoadFromAssemblyName(new AssemblyName("Portcullis.Defaults"));
        var configType = TypeIn([masking, defaults], "Portcullis.Masking.Rules.MaskingConfig", "Portcullis.Defaults.Configuration.MaskingConfig");
        var config = Activator.CreateInstance(configType);
        configType.GetProperty("Detectors")!.SetValue(config, detectors.Split(',').ToList());
        var policy = masking.GetType("Portcullis.Masking.Rules.MaskingPolicy", throwOnError: true)!
            .GetMethods().First(m => m.Name == "From" && m.GetParameters().Length == 2).Invoke(null, [config, null]);
        var maskerType = TypeIn([masking], "Portcullis.Masking.Streaming.ContentMasker", "Portcullis.Masking.ContentMasker");
        var masker = Activator.CreateInstance(maskerType, policy);
        var tallyType = TypeIn([masking], "Portcullis.Masking.Values.MaskingTally", "Portcullis.Masking.MaskingTally");
        var mask = maskerType.GetMethods().First(m => m.Name == "Mask" && m.GetParameters() is [_, _, { ParameterType: var input }, _, _, _] && input == typeof(Stream));
        return () => mask.Invoke(masker, ["demo", "application/json", new MemoryStream(json, writable: false), Stream.Null, Activator.CreateInstance(tallyType), 64 * 1024]);
    }

    // A type by its name in this build or an earlier one (issue 19 moved the masker's types into feature namespaces).
    private static Type TypeIn(Assembly[] assemblies, params string[] names) =>
        assemblies.SelectMany(_ => names, (assembly, name) => assembly.GetType(name)).FirstOrDefault(type => type is not null)
        ?? throw new InvalidOperationException($"None of {string.Join(", ", names)} is in the build.");

    private sealed class BuildContext(string dir) : AssemblyLoadContext
    {
        protected override Assembly? Load(AssemblyName name)
        {
            var path = Path.Combine(dir, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }
    }
}
