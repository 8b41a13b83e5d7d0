// Types for NamespaceCycleTests: a loop the detector must find although one of its edges exists only in method bodies.
namespace Portcullis.UnitTests.Architecture.Samples.Upper
{
    public sealed class Endpoint
    {
        public Lower.Store Store { get; } = new();
    }
}

namespace Portcullis.UnitTests.Architecture.Samples.Lower
{
    public sealed class Store
    {
        public Func<object> Later(int seed) => () => seed > 0 ? new Upper.Endpoint() : new object();
    }
}

namespace Portcullis.UnitTests.Architecture.Samples.Awaiting
{
    public static class Worker
    {
        public static async Task<int> RunAsync()
        {
            await Task.Yield();
            return new Upper.Endpoint().GetHashCode();
        }
    }
}
