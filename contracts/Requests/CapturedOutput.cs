namespace Portcullis.Contracts;

/// <summary>The start of an output (at most the gateway's cap), with the whole output's size and hash.</summary>
public sealed record CapturedOutput(string ContentType, string Preview, long Size, string Sha256, bool Truncated);
