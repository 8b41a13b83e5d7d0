namespace Portcullis.Contracts;

/// <summary>
/// The request an approval is asked for or claimed by: who sent which action, under which rule.
/// <see cref="ActionHash"/> is the gateway's hash of the whole action (connection, protocol, statement and
/// parameters, method, path, query and body, command): a single approval covers that action and no other.
/// </summary>
public sealed record ApprovableRequest(
    Guid RequestId,
    string SessionId,
    Principal Requester,
    AgentAction Action,
    string? RuleId,
    string? ActionHash = null);
