using System.Text.Json.Serialization;

namespace Portcullis.Contracts;

/// <summary>A policy decision. The numeric order is strictness: the strictest matching rule wins.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Decision>))]
public enum Decision
{
    Allow = 0,
    RequireApproval = 1,
    Deny = 2,
}
