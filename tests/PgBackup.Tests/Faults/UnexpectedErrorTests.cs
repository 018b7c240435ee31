using PgBackup.Backup;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Storage;
using PgBackup.Tests.Integration;

namespace PgBackup.Tests.Faults;

/// <summary>
/// A bug inside a service (issue 9, defect 10) is reported as UnexpectedError naming the exception type, not disguised
/// as a pg_dump failure; what pg_dump itself does wrong stays PgDumpFailed.
/// </summary>
[Collection(PostgresCollection.Name)]
public class UnexpectedErrorTests(PostgresFixture pg) : IDisposable
{
    private readonly TempFolder _repositoryFolder = new();

    public void Dispose()
    {
        _repositoryFolder.Dispose();
        GC.SuppressFinalize(this);
    }

    private BackupRequest Request(string database) => new()
    {
        Database = database,
        Connection = pg.Connection(),
        Repository = new LocalRepository(_repositoryFolder.Path),
        Tags = new Dictionary<string, string>(),
    };

    [Fact]
    public async Task An_exception_no_part_of_PgBackup_expects_is_UnexpectedError_with_its_type_and_the_attempt_is_recorded()
    {
        // Stands in for a bug: a lookup that throws what no code path anticipates.
        var locator = new PgToolLocator(_ => throw new KeyNotFoundException("lookup table is missing an entry"));

        var error = await Assert.ThrowsAnyAsync<PgBackupException>(() => new BackupService(locator).RunAsync(Request("postgres"), CancellationToken.None));

        Assert.Equal("UnexpectedError", error.ErrorId);
        Assert.Contains(nameof(KeyNotFoundException), error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pg_dump", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.IsType<KeyNotFoundException>(error.InnerException);
        var failed = Assert.Single(await new Catalog.BackupCatalog(new LocalRepository(_repositoryFolder.Path)).ListAsync(new Catalog.CatalogQuery(), CancellationToken.None));
        Assert.Equal(BackupStatus.Failed, failed.Status);
        Assert.Contains(nameof(KeyNotFoundException), failed.Error, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // a shell-script pg_dump
    public async Task A_pg_dump_that_fails_is_still_PgDumpFailed()
    {
        using var bin = new TempFolder("pgbackup-failbin");
        var fake = Path.Combine(bin.Path, "pg_dump");
        await File.WriteAllTextAsync(fake, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) 99.0'; exit 0; fi\necho 'pg_dump: error: out of cheese' >&2\nexit 1\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var locator = new PgToolLocator(name => name == PgToolLocator.BinFolderVariable ? bin.Path : Environment.GetEnvironmentVariable(name));

        var error = await Assert.ThrowsAnyAsync<PgBackupException>(() => new BackupService(locator).RunAsync(Request("postgres"), CancellationToken.None));

        Assert.Equal("PgDumpFailed", error.ErrorId);
        Assert.Contains("out of cheese", error.Message, StringComparison.Ordinal);
    }
}
