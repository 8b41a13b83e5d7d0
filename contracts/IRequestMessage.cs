namespace Portcullis.Contracts;

/// <summary>Every message of the request saga names its request and the session it belongs to.</summary>
public interface IRequestMessage
{
    Guid RequestId { get; }
    string SessionId { get; }
}
