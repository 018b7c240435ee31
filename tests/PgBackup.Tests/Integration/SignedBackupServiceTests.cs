using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Encryption;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Tests.Encryption;

namespace PgBackup.Tests.Integration;

/// <summary>New-PgBackup -SigningKey's engine: every manifest it writes gets a detached signature over its exact stored bytes.</summary>
[Collection(PostgresCollection.Name)]
public sealed class SignedBackupServiceTests(PostgresFixture pg, GpgKeysFixture keys) : IClassFixture<GpgKeysFixture>, IDisposable
{
    private readonly TempFolder _folder = new("pgbackup-signed");

    public void Dispose() => _folder.Dispose();

    private ManifestSigner AliceSigner()
    {
        using var passphrase = Passphrase.FromChars(GpgHome.KeyPassphrase);
        return ManifestSigner.Load(keys.Alice.SecretKeyFile, passphrase);
    }

    private BackupRequest Request(string database, IBackupRepository repository) => new()
    {
        Database = database,
        Connection = pg.Connection(),
        Repository = repository,
        Signer = AliceSigner(),
    };

    [Fact]
    public async Task A_signed_backups_sig_verifies_against_the_stored_manifest_and_vouches_for_its_sha256()
    {
        var database = PostgresFixture.UniqueName("signed");
        await pg.Cluster.CreateDatabaseAsync(database);
        var repository = new LocalRepository(_folder.Path);

        var backup = await new BackupService().RunAsync(Request(database, repository), CancellationToken.None);

        Assert.True(backup.Signed);
        var manifest = await File.ReadAllBytesAsync(backup.ManifestLocation);
        var signature = await File.ReadAllBytesAsync(BackupNaming.SignatureKeyFor(backup.ManifestLocation));
        var verified = TrustedSigningKeys.Load([keys.Alice.PublicKeyFile]).Verify(manifest, signature);
        Assert.Equal(keys.Alice.Fingerprint, verified.KeyFingerprint);
        var (trusted, _) = await ManifestSignatures.ReadTrustedAsync(repository, backup.ManifestKey, TrustedSigningKeys.Load([keys.Alice.PublicKeyFile]), CancellationToken.None);
        Assert.Equal(backup.Sha256, trusted.Sha256);
        Assert.True(trusted.Signed);
        Assert.True(Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None)).Signed);
    }

    [Fact]
    public async Task A_failed_attempts_manifest_is_signed_too()
    {
        var database = PostgresFixture.UniqueName("closed");
        await pg.Cluster.PsqlAsync("postgres", $"CREATE DATABASE {database} ALLOW_CONNECTIONS false;");
        var repository = new LocalRepository(_folder.Path);

        await Assert.ThrowsAnyAsync<PgBackupException>(() => new BackupService().RunAsync(Request(database, repository), CancellationToken.None));

        var failed = Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal(BackupStatus.Failed, failed.Status);
        Assert.True(failed.Signed);
        var manifest = await File.ReadAllBytesAsync(failed.ManifestLocation);
        var signature = await File.ReadAllBytesAsync(BackupNaming.SignatureKeyFor(failed.ManifestLocation));
        Assert.Equal(keys.Alice.Fingerprint, TrustedSigningKeys.Load([keys.Alice.PublicKeyFile]).Verify(manifest, signature).KeyFingerprint);
    }

    [Fact]
    public async Task When_the_signature_cannot_be_written_the_backup_stays_committed_unsigned_and_says_SignatureWriteFailed()
    {
        var database = PostgresFixture.UniqueName("sigfail");
        await pg.Cluster.CreateDatabaseAsync(database);
        var repository = new NoSignaturesRepository(new LocalRepository(_folder.Path));

        var error = await Assert.ThrowsAsync<SignatureWriteFailedException>(() => new BackupService().RunAsync(Request(database, repository), CancellationToken.None));

        Assert.Equal("SignatureWriteFailed", error.ErrorId);
        Assert.False(error.Backup.Signed);
        Assert.Equal(BackupStatus.Succeeded, error.Backup.Status);
        Assert.Contains("committed", error.Message, StringComparison.Ordinal);
        var listed = Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal(error.Backup.Id, listed.Id);
        Assert.Equal(BackupStatus.Succeeded, listed.Status);
        Assert.False(listed.Signed);
        Assert.True(File.Exists(listed.Location));
    }

    /// <summary>A repository that takes everything but a manifest's signature (a full quota, a lost connection at that moment).</summary>
    private sealed class NoSignaturesRepository(IBackupRepository inner) : DelegatingRepository(inner)
    {
        public override Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken)
            => BackupNaming.IsSignatureKey(key)
                ? throw new RepositoryWriteFailedException($"Writing {key} failed: simulated.", key)
                : base.WriteSmallObjectAsync(key, content, metadata, cancellationToken);
    }
}
