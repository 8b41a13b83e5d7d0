using Portcullis.Defaults.Bus;

namespace Portcullis.Approval;

public static class Extensions
{
    public static IHostApplicationBuilder AddApplicationServices(this IHostApplicationBuilder builder)
    {
        builder.Services.Configure<ApprovalOptions>(builder.Configuration.GetSection("Approval"));
        builder.Services.AddSingleton(TimeProvider.System);

        // What the approval service listens to:
        builder.AddPortcullisBus("approval", bus =>
        {
            bus.AddConsumer<ApprovalRequiredConsumer>();
        });
        return builder;
    }
}

public sealed class ApprovalOptions
{
    /// <summary>How long an approval stays open before it expires.</summary>
    public TimeSpan Expiry { get; set; } = TimeSpan.FromMinutes(15);
}
