using BenchmarkDotNet.Running;
using Portcullis.Benchmarks;

// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --filter '*'
// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --memory-probe
// dotnet run -c Release --project tests/Portcullis.Benchmarks -- --masking-builds <build dir before> <build dir after>
// make up && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-ingest 10000
// make up && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-drain 40000
// scripts/servers.sh start && . .local/servers.env && dotnet run -c Release --project tests/Portcullis.Benchmarks -- --audit-store 10000
if (args.Contains("--memory-probe")) MaskingMemoryProbe.Run();
else if (args is ["--masking-builds", var before, var after, ..]) MaskingBuildsProbe.Run(before, after);
else if (args is ["--audit-store", var stored, ..]) await AuditStoreProbe.RunAsync(int.Parse(stored));
else if (args is ["--audit-ingest", var count, ..]) await AuditIngestProbe.RunAsync(int.Parse(count));
else if (args is ["--audit-drain", var backlog, ..]) await AuditIngestProbe.DrainAsync(int.Parse(backlog), Path.Combine(".local", "run", "audit.pid"));
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
