namespace Portcullis.Contracts;

/// <summary>
/// Retention archived a whole session and removed it from the store: where its events went (a JSON Lines
/// file, with its SHA-256) and the hash that ended its chain, so the archive can be checked against the
/// record. Recorded in the audit's own session <see cref="RetentionSession"/>.
/// </summary>
public sealed record SessionArchived(
    Guid RequestId,
    string SessionId,
    string ArchivedSessionId,
    long Events,
    string LastHash,
    string ArchiveFile,
    string ArchiveSha256,
    string Reason,
    DateTimeOffset ArchivedAt) : IRequestMessage
{
    public const string RetentionSession = "audit:retention";
}
