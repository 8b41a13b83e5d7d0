namespace Portcullis.Contracts;

/// <summary>
/// Media types the gateway and the masking service agree on beyond the standard ones. The gateway sends SQL results
/// as <see cref="SqlResults"/>, so masking applies column rules by the columns' origins rather than reading it as
/// plain JSON.
/// </summary>
public static class MaskingMediaTypes
{
    public const string SqlResults = "application/vnd.portcullis.sql+json";
}
