namespace Portcullis.Contracts;

/// <summary>
/// The gateway asks for a human decision on a request a rule sent to approval. The gateway names the approval
/// id, so it can listen for the decision before asking. Answered with <see cref="ApprovalStatus"/>: granted at
/// once when an open time-window grant covers the request, otherwise pending. <see cref="BodyPreview"/> shows
/// approvers the start of an HTTP request's body.
/// </summary>
public sealed record RequestApproval(
    Guid ApprovalId,
    ApprovableRequest Request,
    string Reason,
    IReadOnlyList<string> ApproverGroups,
    string? BodyPreview = null) : IRequestMessage
{
    Guid IRequestMessage.RequestId => Request.RequestId;
    string IRequestMessage.SessionId => Request.SessionId;
}
