using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Tests.Integration;

namespace PgBackup.Tests.Faults;

/// <summary>A local repository on a 4 MiB tmpfs that a backup fills (issue 9, defect 3), against real PostgreSQL and pg_dump.</summary>
[Collection(PostgresCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")] // mount -t tmpfs
public class DiskFullTests(PostgresFixture pg) : IDisposable
{
    private readonly TmpfsMount _disk = TmpfsMount.Create(sizeMiB: 4);

    public void Dispose()
    {
        _disk.Dispose();
        GC.SuppressFinalize(this);
    }

    private BackupRequest Request(string database) => new()
    {
        Database = database,
        Connection = pg.Connection(),
        Repository = new LocalRepository(_disk.Path),
        Tags = new Dictionary<string, string>(),
    };

    [Fact]
    public async Task A_backup_that_fills_the_disk_fails_with_RepositoryFull_frees_the_disk_records_the_attempt_and_the_next_backup_runs()
    {
        var big = PostgresFixture.UniqueName("full_big");
        var small = PostgresFixture.UniqueName("full_small");
        await pg.Cluster.CreateDatabaseAsync(big);
        // ~25 MB of random hex: gzip leaves about half, far more than the disk holds.
        await pg.Cluster.PsqlAsync(big, "CREATE TABLE big AS SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS payload FROM generate_series(1, 250000) g;");
        await pg.Cluster.CreateDatabaseAsync(small);
        await pg.Cluster.PsqlAsync(small, "CREATE TABLE small AS SELECT g AS id FROM generate_series(1, 10) g;");

        var error = await Assert.ThrowsAnyAsync<PgBackupException>(() => new BackupService().RunAsync(Request(big), CancellationToken.None));

        Assert.Equal("RepositoryFull", error.ErrorId);
        Assert.Contains("full", error.Message, StringComparison.Ordinal);
        Assert.Matches(@"\d+(\.\d+)? (bytes|KiB|MiB)", error.Message);
        Assert.Empty(Directory.GetFiles(_disk.Path, "*" + LocalRepository.PartialSuffix, SearchOption.AllDirectories));
        var failed = Assert.Single(await new BackupCatalog(new LocalRepository(_disk.Path)).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal(BackupStatus.Failed, failed.Status);
        Assert.Equal(big, failed.Database);
        Assert.Contains("full", failed.Error, StringComparison.Ordinal);

        var next = await new BackupService().RunAsync(Request(small), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, next.Status);
        Assert.True(File.Exists(next.Location));
    }
}
