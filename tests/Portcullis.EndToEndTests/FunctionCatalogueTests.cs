using System.Diagnostics;
using Portcullis.EndToEndTests.Stack;

namespace Portcullis.EndToEndTests;

/// <summary>
/// The function catalogue in the repository (services/policy/Analysis/Sql/Catalogue/*.tsv) is what the generator
/// derives from the local PostgreSQL server's pg_proc, pg_operator and pg_class, not a hand-made list.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class FunctionCatalogueTests(PortcullisStack stack)
{
    [Fact]
    public async Task The_catalogue_in_the_repository_is_the_one_generated_from_the_server()
    {
        var output = Directory.CreateDirectory(Path.Combine(stack.RunDirectory, "catalogue")).FullName;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { stack.AssemblyOf("policy"), "catalog", "generate", output }) start.ArgumentList.Add(argument);
        start.Environment["ConnectionStrings__Postgres"] = stack.AdminConnectionString;
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token);
        Assert.True(process.ExitCode == 0, await errors);

        var committed = Path.Combine(PortcullisStack.RepositoryRoot, "services", "policy", "Analysis", "Sql", "Catalogue");
        foreach (var file in new[] { "pg-functions.tsv", "pg-operators.tsv", "pg-relations.tsv" })
        {
            var expected = await File.ReadAllLinesAsync(Path.Combine(committed, file));
            var generated = await File.ReadAllLinesAsync(Path.Combine(output, file));
            var firstDifference = expected.Zip(generated).Select((pair, line) => (pair, line)).FirstOrDefault(x => x.pair.First != x.pair.Second);
            Assert.True(expected.SequenceEqual(generated),
                $"{file} differs from what the server generates (regenerate it: dotnet run --project services/policy -- catalog generate): " +
                $"{expected.Length} lines committed, {generated.Length} generated; first difference at line {firstDifference.line + 1}: " +
                $"'{firstDifference.pair.First}' vs '{firstDifference.pair.Second}'");
        }
        Assert.Contains(await File.ReadAllLinesAsync(Path.Combine(output, "pg-functions.tsv")),
            line => line.StartsWith("pg_catalog\tquery_to_xml\t", StringComparison.Ordinal) && line.Contains("\tsql_execution\t"));
    }
}
