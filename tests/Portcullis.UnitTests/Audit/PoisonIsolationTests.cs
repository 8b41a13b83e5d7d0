using Npgsql;
using Portcullis.Audit.Recording;

namespace Portcullis.UnitTests.Audit;

public class PoisonIsolationTests
{
    private static PostgresException Postgres(string sqlState) => new("refused", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(13)]
    public async Task One_refused_event_is_set_aside_and_every_other_is_stored_in_order(int bad)
    {
        var items = Enumerable.Range(1, 13).ToList();
        var stored = new List<int>();
        var setAside = new List<(int Item, Exception Failure)>();
        await PoisonIsolation.StoreAsync(items, part =>
        {
            if (part.Contains(bad)) throw new InvalidOperationException("wrapped", Postgres("22P05"));
            stored.AddRange(part);
            return Task.CompletedTask;
        }, (item, failure) =>
        {
            setAside.Add((item, failure));
            return Task.CompletedTask;
        });

        Assert.Equal(items.Where(i => i != bad), stored);
        var (item, why) = Assert.Single(setAside);
        Assert.Equal(bad, item);
        Assert.Contains("22P05", PoisonIsolation.Reason(why));
    }

    [Fact]
    public async Task Several_refused_events_are_each_set_aside()
    {
        var bad = new HashSet<int> { 2, 3, 9 };
        var stored = new List<int>();
        var setAside = new List<int>();
        await PoisonIsolation.StoreAsync(Enumerable.Range(1, 10).ToList(), part =>
        {
            if (part.Any(bad.Contains)) throw Postgres("54000");
            stored.AddRange(part);
            return Task.CompletedTask;
        }, (item, _) =>
        {
            setAside.Add(item);
            return Task.CompletedTask;
        });
        Assert.Equal([1, 4, 5, 6, 7, 8, 10], stored);
        Assert.Equal([2, 3, 9], setAside);
    }

    [Theory]
    [InlineData("08006")] // connection failure
    [InlineData("57P01")] // admin shutdown
    [InlineData("53100")] // disk full
    [InlineData("40001")] // serialization failure
    [InlineData("23505")] // unique violation: a race, tried again
    [InlineData("42P01")] // undefined table: the store, not the event
    public async Task A_failure_that_is_not_the_datas_sets_nothing_aside_and_fails_the_whole_batch(string sqlState)
    {
        var attempts = 0;
        var setAside = 0;
        await Assert.ThrowsAsync<PostgresException>(() => PoisonIsolation.StoreAsync(Enumerable.Range(1, 8).ToList(), _ =>
        {
            attempts++;
            throw Postgres(sqlState);
        }, (_, _) =>
        {
            setAside++;
            return Task.CompletedTask;
        }));
        Assert.Equal(1, attempts);
        Assert.Equal(0, setAside);
    }

    [Fact]
    public void Lost_connections_and_timeouts_are_transient_and_encoding_failures_are_the_datas()
    {
        Assert.False(PoisonIsolation.IsDataError(new NpgsqlException("connection lost", new IOException())));
        Assert.False(PoisonIsolation.IsDataError(new TimeoutException()));
        Assert.False(PoisonIsolation.IsDataError(new InvalidOperationException("the broker closed the channel")));
        Assert.True(PoisonIsolation.IsDataError(new System.Text.EncoderFallbackException("lone surrogate")));
        Assert.True(PoisonIsolation.IsDataError(Postgres("22021")));
        Assert.True(PoisonIsolation.IsDataError(Postgres("23502")));
    }
}
