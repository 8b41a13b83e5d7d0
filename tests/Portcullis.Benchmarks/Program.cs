using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
