using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Storage;
using PgBackup.Tests.Integration;

namespace PgBackup.Tests.Faults;

/// <summary>
/// Two runs of one database in the same second can draw the same 16-bit suffix (issue 9, defect 7): the
/// name is created exclusively and re-drawn, and no run ever overwrites another run's manifest.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class NameCollisionTests(PostgresFixture pg) : IDisposable
{
    private static readonly DateTime SameSecond = new(2026, 12, 2, 3, 4, 5, DateTimeKind.Utc);
    private readonly TempFolder _folder = new("pgbackup-collision");

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task A_failing_run_that_draws_a_succeeded_runs_name_redraws_and_never_overwrites_it()
    {
        var source = await SmallDatabaseAsync();
        var repository = new LocalRepository(_folder.Path);
        var first = await Service(new Queue<string>(["abcd"])).RunAsync(StoreTestDatabases.Request(pg, source, repository), CancellationToken.None);
        var manifestBefore = await File.ReadAllBytesAsync(first.ManifestLocation);

        // The same database in the same second, drawing the same suffix, and failing (nothing listens on port 1).
        await Assert.ThrowsAnyAsync<Errors.PgBackupException>(
            () => Service(new Queue<string>(["abcd", "cafe"])).RunAsync(
                StoreTestDatabases.Request(pg, source, repository) with { Connection = pg.Connection() with { Port = 1 } }, CancellationToken.None));

        Assert.Equal(manifestBefore, await File.ReadAllBytesAsync(first.ManifestLocation));
        var listed = await new BackupCatalog(repository).ListAsync(new CatalogQuery { DatabasePatterns = [source] }, CancellationToken.None);
        Assert.Equal(BackupStatus.Succeeded, listed.Single(b => b.Id == first.Id).Status);
        var failed = Assert.Single(listed, b => b.Status == BackupStatus.Failed);
        Assert.EndsWith("_cafe", failed.Id, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_run_that_draws_a_taken_name_redraws_and_both_backups_stand()
    {
        var source = await SmallDatabaseAsync();
        var repository = new LocalRepository(_folder.Path);
        var suffixes = new Queue<string>(["abcd", "abcd", "beef"]);

        var first = await Service(suffixes).RunAsync(StoreTestDatabases.Request(pg, source, repository), CancellationToken.None);
        var manifestBefore = await File.ReadAllBytesAsync(first.ManifestLocation);
        var second = await Service(suffixes).RunAsync(StoreTestDatabases.Request(pg, source, repository), CancellationToken.None);

        Assert.EndsWith("_abcd", first.Id, StringComparison.Ordinal);
        Assert.EndsWith("_beef", second.Id, StringComparison.Ordinal);
        Assert.Equal(manifestBefore, await File.ReadAllBytesAsync(first.ManifestLocation));
        var listed = await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None);
        Assert.Equal([second.Id, first.Id], listed.Select(b => b.Id).Order(StringComparer.Ordinal).Reverse());
        Assert.All(listed, b => Assert.Equal(BackupStatus.Succeeded, b.Status));
    }

    private static BackupService Service(Queue<string> suffixes) => new(clock: new TrustTestClock(SameSecond), nameSuffix: suffixes.Dequeue);

    private async Task<string> SmallDatabaseAsync()
    {
        var name = PostgresFixture.UniqueName("collide");
        await pg.Cluster.CreateDatabaseAsync(name);
        await pg.Cluster.PsqlAsync(name, "CREATE TABLE t (id integer PRIMARY KEY); INSERT INTO t VALUES (1);");
        return name;
    }
}
