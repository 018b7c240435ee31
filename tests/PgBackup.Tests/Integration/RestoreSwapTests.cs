using Npgsql;
using PgBackup.Restore;
using static PgBackup.Tests.Integration.RestoreTestSupport;

namespace PgBackup.Tests.Integration;

[Collection(PostgresCollection.Name)]
public sealed class RestoreSwapTests(PostgresFixture fixture)
{
    [Fact]
    public async Task When_the_second_rename_fails_the_first_is_undone_and_the_live_database_keeps_its_name()
    {
        var target = PostgresFixture.UniqueName("swap_live");
        await CreateOtherDataAsync(fixture.Cluster, target);
        var before = await SnapshotAsync(fixture.Cluster, target);
        var databasesBefore = await DatabasesAsync(fixture.Cluster);
        var missingStaging = target + RestoreNaming.StagingMarker + "00000000";

        await using var server = new Server.PgServer(fixture.Connection());
        var error = await Assert.ThrowsAsync<PostgresException>(() => DatabaseSwap.SwapAsync(server, target, missingStaging, target + "_pre_restore_x", CancellationToken.None));

        Assert.Equal(PostgresErrorCodes.InvalidCatalogName, error.SqlState);
        Assert.Equal(databasesBefore, await DatabasesAsync(fixture.Cluster));
        Assert.Equal(before, await SnapshotAsync(fixture.Cluster, target));
    }

    [Fact]
    public async Task A_swap_disconnects_sessions_of_the_live_database_and_exchanges_the_names()
    {
        var target = PostgresFixture.UniqueName("swap_ok");
        var staging = target + RestoreNaming.StagingMarker + "11111111";
        await CreateOtherDataAsync(fixture.Cluster, target);
        await fixture.Cluster.CreateDatabaseAsync(staging);
        await fixture.Cluster.PsqlAsync(staging, "CREATE TABLE restored (x int); INSERT INTO restored VALUES (42);");
        await using var session = new NpgsqlConnection(Server.PgServerConnection.BuildConnectionString(fixture.Connection(), target));
        await session.OpenAsync();

        await using var server = new Server.PgServer(fixture.Connection());
        await DatabaseSwap.SwapAsync(server, target, staging, target + "_previous", CancellationToken.None);

        Assert.Equal("42", (await fixture.Cluster.PsqlAsync(target, "SELECT x FROM restored;")).Trim());
        Assert.Equal("the data before the restore", (await fixture.Cluster.PsqlAsync(target + "_previous", "SELECT note FROM marker;")).Trim());
        Assert.DoesNotContain(staging, await DatabasesAsync(fixture.Cluster));
        await using var probe = new NpgsqlCommand("SELECT 1", session);
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => probe.ExecuteScalarAsync());
    }
}
