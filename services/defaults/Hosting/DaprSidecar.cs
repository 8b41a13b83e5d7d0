namespace Portcullis.Defaults.Hosting;

/// <summary>Whether this process runs beside a Dapr sidecar: the sidecar injector sets one of these variables.</summary>
public static class DaprSidecar
{
    public static bool IsConfigured =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DAPR_GRPC_ENDPOINT"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DAPR_GRPC_PORT"));
}
