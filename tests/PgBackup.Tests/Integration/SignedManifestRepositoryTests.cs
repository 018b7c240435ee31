using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Retention;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>Signatures in a real (local) repository: listing reports them as Signed, retention removes them with their backup.</summary>
public sealed class SignedManifestRepositoryTests : IDisposable
{
    private static readonly DateTime First = new(2026, 3, 1, 1, 0, 0, DateTimeKind.Utc);
    private readonly TempFolder _folder = new("pgbackup-signed");

    private LocalRepository Repository => new(_folder.Path);

    public void Dispose() => _folder.Dispose();

    private static Task WriteSignatureAsync(IBackupRepository repository, string manifestKey)
        => repository.WriteSmallObjectAsync(BackupNaming.SignatureKeyFor(manifestKey), "-----BEGIN PGP SIGNATURE-----\n"u8.ToArray(), null, CancellationToken.None);

    [Fact]
    public async Task Listing_reports_Signed_from_the_sig_next_to_the_manifest_and_never_lists_a_signature_as_a_backup()
    {
        var repository = Repository;
        var signed = await SyntheticBackups.WriteAsync(repository, "shop", First, BackupStatus.Succeeded, "0001");
        var unsigned = await SyntheticBackups.WriteAsync(repository, "shop", First.AddDays(1), BackupStatus.Succeeded, "0002");
        var failed = await SyntheticBackups.WriteAsync(repository, "shop", First.AddDays(2), BackupStatus.Failed, "0003");
        await WriteSignatureAsync(repository, signed.ManifestKey);
        await WriteSignatureAsync(repository, failed.ManifestKey);
        // A signature whose manifest is gone names no backup.
        await WriteSignatureAsync(repository, "2026/03/05/shop_20260305T010000Z_0004.dump.manifest.json");
        var log = new RecordingLog();

        var listed = await new BackupCatalog(repository, log).ListAsync(new CatalogQuery(), CancellationToken.None);
        var latest = await new BackupCatalog(repository).ListAsync(new CatalogQuery { LatestOnly = true, Status = BackupStatus.Failed }, CancellationToken.None);

        Assert.Equal([failed.Id, unsigned.Id, signed.Id], listed.Select(b => b.Id));
        Assert.Equal([true, false, true], listed.Select(b => b.Signed));
        Assert.True(Assert.Single(latest).Signed);
        Assert.DoesNotContain(log.Messages, message => message.StartsWith("WARNING", StringComparison.Ordinal));
        Assert.True((await new BackupCatalog(repository).ReadAsync(signed.ManifestKey, CancellationToken.None)).Signed);
        Assert.False((await new BackupCatalog(repository).ReadAsync(unsigned.ManifestKey, CancellationToken.None)).Signed);
        Assert.Equal([failed.Id, unsigned.Id, signed.Id], await new BackupCatalog(repository).ListIdsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Retention_removes_an_expired_backups_signature_with_it_and_keeps_the_survivors()
    {
        var repository = Repository;
        var old = await SyntheticBackups.WriteAsync(repository, "shop", First, BackupStatus.Succeeded, "0001");
        var kept = await SyntheticBackups.WriteAsync(repository, "shop", First.AddDays(1), BackupStatus.Succeeded, "0002");
        await WriteSignatureAsync(repository, old.ManifestKey);
        await WriteSignatureAsync(repository, kept.ManifestKey);

        var result = await new RetentionService().RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 }, IncludeIncomplete = true },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Equal(old.Id, Assert.Single(result.Removed).Id);
        Assert.Empty(result.RemovedIncomplete);
        Assert.False(await repository.ExistsAsync(BackupNaming.SignatureKeyFor(old.ManifestKey), CancellationToken.None));
        Assert.False(await repository.ExistsAsync(old.ManifestKey, CancellationToken.None));
        Assert.True(await repository.ExistsAsync(BackupNaming.SignatureKeyFor(kept.ManifestKey), CancellationToken.None));
        Assert.True(Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None)).Signed);
    }

    [Fact]
    public async Task A_signature_that_cannot_be_removed_only_warns_the_backup_is_removed_all_the_same()
    {
        var repository = new SignatureDeleteFails(Repository);
        var old = await SyntheticBackups.WriteAsync(repository, "shop", First, BackupStatus.Succeeded, "0001");
        await SyntheticBackups.WriteAsync(repository, "shop", First.AddDays(1), BackupStatus.Succeeded, "0002");
        await WriteSignatureAsync(repository, old.ManifestKey);
        var log = new RecordingLog();

        var result = await new RetentionService(log).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 } },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Equal(old.Id, Assert.Single(result.Removed).Id);
        Assert.Empty(result.Failures);
        Assert.Contains(log.Messages, message => message.StartsWith("WARNING", StringComparison.Ordinal) && message.Contains(".sig", StringComparison.Ordinal));
        Assert.False(await repository.ExistsAsync(old.ManifestKey, CancellationToken.None));
    }

    private sealed class SignatureDeleteFails(IBackupRepository inner) : DelegatingRepository(inner)
    {
        public override Task DeleteAsync(string key, CancellationToken cancellationToken)
            => BackupNaming.IsSignatureKey(key)
                ? throw new RepositoryAccessDeniedException($"Deleting {key} is not allowed: simulated.", key)
                : base.DeleteAsync(key, cancellationToken);
    }
}
