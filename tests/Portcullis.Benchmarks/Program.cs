using BenchmarkDotNet.Running;
using Portcullis.Benchmarks;

// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --filter '*'
// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --memory-probe
if (args.Contains("--memory-probe")) MaskingMemoryProbe.Run();
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
