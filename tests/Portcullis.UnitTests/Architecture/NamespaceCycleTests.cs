using System.Reflection;

namespace Portcullis.UnitTests.Architecture;

/// <summary>
/// Issue 19: inside a service, data flows one way (endpoints -> request flow -> connectors -> record), so its
/// namespaces never use each other in a loop. Add a service's assembly to the theory once it is referenced here.
/// </summary>
public class NamespaceCycleTests
{
    [Theory]
    [InlineData("Portcullis.Gateway")]
    [InlineData("Portcullis.Audit")]
    [InlineData("Portcullis.Policy")]
    [InlineData("Portcullis.Masking")]
    [InlineData("Portcullis.Defaults")]
    [InlineData("Portcullis.Approval")]
    public void Service_namespaces_use_each_other_one_way_only(string assemblyName)
    {
        var graph = NamespaceGraph.Of(Assembly.Load(assemblyName).Location);

        Assert.True(graph.Uses.Count > 1, $"{assemblyName}: no namespaces were read, so nothing was checked.");
        var cycles = graph.Cycles();
        Assert.True(cycles.Count == 0, $"{assemblyName} has namespaces that use each other in a loop:\n" +
            string.Join("\n", cycles.Select(c => string.Join(" <-> ", c) + "\n" + graph.Describe(c))));
    }

    [Fact]
    public void Finds_a_loop_in_a_small_graph()
    {
        var graph = Graph(
            ("Apis", "Flow", "SqlApi uses AgentRequestFlow"),
            ("Flow", "Connectors", "AgentRequestFlow uses ConnectorOutput"),
            ("Connectors", "Flow", "SqlConnector uses AgentRequest"),
            ("Connectors", "Recording", "SqlConnector uses Recorder"));

        var cycle = Assert.Single(graph.Cycles());

        Assert.Equal(["Connectors", "Flow"], cycle);
        Assert.Contains("Connectors -> Flow (SqlConnector uses AgentRequest)", graph.Describe(cycle));
    }

    [Fact]
    public void Finds_no_loop_in_a_one_way_graph()
    {
        var graph = Graph(("Apis", "Flow", ""), ("Apis", "Connectors", ""), ("Flow", "Connectors", ""),
            ("Flow", "Recording", ""), ("Connectors", "Recording", ""));

        Assert.Empty(graph.Cycles());
    }

    [Fact]
    public void Reads_a_use_that_only_a_closure_in_a_method_body_makes()
    {
        // Samples.Lower uses Samples.Upper only inside a lambda (a compiler-generated closure class).
        var graph = NamespaceGraph.Of(typeof(NamespaceCycleTests).Assembly.Location);

        Assert.Contains(SampleNamespace + ".Upper", graph.Uses[SampleNamespace + ".Lower"]);
        Assert.Contains(graph.Cycles(), c => c.SequenceEqual([SampleNamespace + ".Lower", SampleNamespace + ".Upper"]));
    }

    [Fact]
    public void Reads_a_use_that_only_an_async_method_body_makes()
    {
        var graph = NamespaceGraph.Of(typeof(NamespaceCycleTests).Assembly.Location);

        Assert.Contains(SampleNamespace + ".Upper", graph.Uses[SampleNamespace + ".Awaiting"]);
    }

    private static NamespaceGraph Graph(params (string From, string To, string Evidence)[] edges)
    {
        var graph = new NamespaceGraph();
        foreach (var (from, to, evidence) in edges) graph.Add(from, to, evidence);
        return graph;
    }

    private const string SampleNamespace = "Portcullis.UnitTests.Architecture.Samples";
}
