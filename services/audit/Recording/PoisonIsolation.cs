using System.Text;
using Npgsql;

namespace Portcullis.Audit.Recording;

/// <summary>
/// Stores a batch so that one event the store refuses cannot hold back the rest: a batch that fails because of
/// its data is split in two and each half stored on its own (in order), down to the one event that fails alone,
/// which is set aside. A failure that is not about the data (the store down, the connection lost, a race) is
/// thrown unchanged, for the whole batch to be delivered and tried again: nothing is set aside for it.
/// </summary>
public static class PoisonIsolation
{
    /// <summary>
    /// Stores <paramref name="items"/> through <paramref name="store"/>; an item that the store refuses for its data
    /// goes to <paramref name="setAside"/> with the failure, and everything before and after it is stored.
    /// </summary>
    public static async Task StoreAsync<T>(IReadOnlyList<T> items, Func<IReadOnlyList<T>, Task> store,
        Func<T, Exception, Task> setAside)
    {
        if (items.Count == 0) return;
        try
        {
            await store(items);
        }
        catch (Exception ex) when (IsDataError(ex))
        {
            if (items.Count == 1)
            {
                await setAside(items[0], ex);
                return;
            }
            // Halves in order, so each session's events are still appended in the order they were delivered.
            var half = items.Count / 2;
            await StoreAsync(items.Take(half).ToList(), store, setAside);
            await StoreAsync(items.Skip(half).ToList(), store, setAside);
        }
    }

    /// <summary>
    /// Whether <paramref name="ex"/> is the store refusing an event's data, so that the same event will fail every
    /// time: PostgreSQL's SQLSTATE classes 22 (data exception: U+0000 in jsonb, bad JSON), 23 (integrity constraint;
    /// unique violations excepted, they are races) and 54 (program limit: a value too large to index or store), or
    /// the event failing to serialize or encode before it reaches the store. Everything else (classes 08
    /// connection, 53 resources, 57 operator intervention, 40 rollback, a socket or a timeout) is transient.
    /// </summary>
    public static bool IsDataError(Exception ex)
    {
        for (var current = ex; current is not null; current = current.InnerException)
        {
            switch (current)
            {
                case PostgresException postgres:
                    return postgres.SqlState is { Length: 5 } state && !SessionRecorder.IsRace(postgres)
                        && state != PostgresErrorCodes.UniqueViolation
                        && (state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal)
                            || state.StartsWith("54", StringComparison.Ordinal));
                case NpgsqlException: // a lost connection, a timeout: not the data's fault
                    return false;
                case System.Text.Json.JsonException or NotSupportedException or EncoderFallbackException or ArgumentException:
                    return true; // the serializer or the text encoder refused the event before anything was sent
            }
        }
        return false;
    }

    /// <summary>What the store said about the event, without the event's content: the SQLSTATE and PostgreSQL's message.</summary>
    public static string Reason(Exception ex)
    {
        for (var current = ex; current is not null; current = current.InnerException)
            if (current is PostgresException postgres)
                return $"PostgreSQL refused it: {postgres.SqlState} {postgres.MessageText}";
        return $"it could not be serialized for the store: {ex.GetType().Name}";
    }
}
