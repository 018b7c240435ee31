using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Server;
using PgBackup.Storage;
using PgBackup.Verification;

namespace PgBackup.Tests.Integration;

/// <summary>Shared steps of the verification tests: back up a real database, tamper with it, test it.</summary>
internal static class VerificationSteps
{
    public static async Task<BackupInfo> BackUpAsync(PostgresFixture postgres, string repository, string database, BackupFormat format = BackupFormat.Custom, BackupCompression compression = BackupCompression.Gzip, bool rowCounts = true)
    {
        return await new BackupService().RunAsync(
            new BackupRequest
            {
                Database = database,
                Connection = postgres.Connection(),
                Repository = new LocalRepository(repository),
                Format = format,
                Compression = compression,
                RowCounts = rowCounts,
            },
            CancellationToken.None);
    }

    public static Task<TestResult> TestAsync(PostgresFixture postgres, BackupInfo backup, TestLevel level, BackupVerifier? verifier = null, CancellationToken cancellationToken = default)
        => (verifier ?? new BackupVerifier()).VerifyAsync(
            new VerificationRequest
            {
                Backup = backup,
                Repository = new LocalRepository(backup.Repository),
                Level = level,
                Connection = level == TestLevel.Restore ? postgres.Connection() : null,
            },
            cancellationToken);

    /// <summary>
    /// Replaces the artifact's bytes and, when asked, rewrites the manifest so its size and SHA-256
    /// match them (the content is then wrong while the checksum is right). Returns the re-read backup.
    /// </summary>
    public static async Task<BackupInfo> ReplaceArtifactAsync(BackupInfo backup, byte[] content, bool updateManifest, Func<BackupManifest, BackupManifest>? editManifest = null)
    {
        await File.WriteAllBytesAsync(backup.Location!, content);
        var repository = new LocalRepository(backup.Repository);
        var manifest = ManifestSerializer.Deserialize(await repository.ReadSmallObjectAsync(backup.ManifestKey, CancellationToken.None), backup.ManifestLocation);
        if (updateManifest)
        {
            manifest = manifest with { SizeBytes = content.Length, Sha256 = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)).ToLowerInvariant() };
        }

        if (editManifest is not null)
        {
            manifest = editManifest(manifest);
        }

        // Manifests are create-only: a rewrite is a removal and a new one.
        await repository.DeleteAsync(backup.ManifestKey, CancellationToken.None);
        await repository.WriteSmallObjectAsync(backup.ManifestKey, ManifestSerializer.Serialize(manifest), metadata: null, CancellationToken.None);
        return await new BackupCatalog(repository).ReadAsync(backup.ManifestKey, CancellationToken.None);
    }

    public static async Task<IReadOnlyList<string>> LeftoverVerifyDatabasesAsync(PostgresFixture postgres)
    {
        await using var server = new PgServer(postgres.Connection());
        return await new DatabaseAdmin(server).ListDatabasesAsync(TemporaryDatabaseName.LikePattern, CancellationToken.None);
    }

    public static TestCheck Check(TestResult result, string name)
        => Assert.Single(result.Checks, c => c.Name == name);
}
