using System.Security.Cryptography;
using PutObjectRequest = Amazon.S3.Model.PutObjectRequest;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Restore;
using PgBackup.Storage.S3;
using PgBackup.Verification;
using static PgBackup.Tests.Integration.RestoreTestSupport;

namespace PgBackup.Tests.Integration;

/// <summary>
/// What works on a local repository works on S3: Test-PgBackup's and Restore-PgBackup's cores read
/// backups back from a real S3 API (s3rver), and a failed backup is recorded there. Every object is
/// checked by hash as stored by s3rver, never trusted from a 200.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class S3ParityTests(PostgresFixture postgres, S3Fixture s3) : IClassFixture<S3Fixture>
{
    [Fact]
    public async Task An_s3_backup_passes_the_checksum_structure_and_restore_levels()
    {
        var (source, backup, repository) = await BackUpNorthwindAsync("verify");
        using var _ = repository;

        foreach (var level in new[] { TestLevel.Checksum, TestLevel.Structure, TestLevel.Restore })
        {
            var result = await VerifyAsync(backup, repository, level);
            Assert.True(result.Passed, $"{level}: " + result.DescribeFailures());
            Assert.Equal(level, result.Level);
        }

        var restore = await VerifyAsync(backup, repository, TestLevel.Restore);
        Assert.Equal(["Size", "SHA-256", "Format header", "Table of contents", "Tables match manifest", "Restore", "Tables restored", "Row counts"], restore.Checks.Select(c => c.Name));
        Assert.Contains("14 tables", VerificationSteps.Check(restore, "Row counts").Detail);
        Assert.StartsWith($"pgbackup_verify_{source}_", restore.TemporaryDatabase);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task A_flipped_byte_in_the_stored_s3_object_fails_the_checksum_and_the_restore_level()
    {
        var (_, backup, repository) = await BackUpNorthwindAsync("flipped");
        using var _ = repository;
        var corrupted = await FlipStoredByteAsync(backup, repository);

        var result = await VerifyAsync(backup, repository, TestLevel.Checksum);

        Assert.False(result.Passed);
        Assert.True(VerificationSteps.Check(result, "Size").Passed);
        var sha = VerificationSteps.Check(result, "SHA-256");
        Assert.False(sha.Passed);
        Assert.Equal($"expected sha256 {backup.Sha256} (manifest), actual sha256 {corrupted}", sha.Detail);

        var restore = await VerifyAsync(backup, repository, TestLevel.Restore);
        Assert.False(restore.Passed);
        Assert.Equal(sha.Detail, VerificationSteps.Check(restore, "SHA-256").Detail);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task An_s3_backup_restores_into_a_new_database_with_the_same_schema_and_content(int jobs)
    {
        var (source, backup, repository) = await BackUpNorthwindAsync("restore");
        using var _ = repository;
        var target = PostgresFixture.UniqueName("s3_restored");
        string? archivePath = null;
        var log = new RecordingLog(message =>
        {
            if (message.Contains(" jobs from ", StringComparison.Ordinal))
            {
                archivePath = message[(message.IndexOf(" jobs from ", StringComparison.Ordinal) + " jobs from ".Length)..].TrimEnd('.');
            }
        });

        var result = await new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = repository, Connection = postgres.Connection(), TargetDatabase = target, Jobs = jobs },
            CancellationToken.None);

        Assert.False(result.Replaced);
        Assert.Equal(target, result.TargetDatabase);
        var hashes = await ContentHashesAsync(postgres.Cluster, target);
        Assert.Equal(14, hashes.Count);
        Assert.Equal(await ContentHashesAsync(postgres.Cluster, source), hashes);
        Assert.Equal(await postgres.Cluster.SchemaDumpAsync(source), await postgres.Cluster.SchemaDumpAsync(target));
        if (jobs > 1)
        {
            // Parallel pg_restore needs a seekable archive: the S3 object went through a temporary file, now deleted.
            Assert.NotNull(archivePath);
            Assert.False(File.Exists(archivePath), archivePath);
        }
        else
        {
            Assert.Null(archivePath);
        }
    }

    [Fact]
    public async Task A_restore_and_a_restore_level_test_survive_broken_and_failing_s3_reads()
    {
        var (source, backup, direct) = await BackUpNorthwindAsync("flaky");
        direct.Dispose();
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(direct.S3.Prefix, proxy.Endpoint);
        proxy.InjectFault(S3Operation.GetObject, S3Fault.InternalError, times: 1);
        proxy.InjectFault(S3Operation.GetObject, S3Fault.TruncateResponseBody, times: 2);
        var target = PostgresFixture.UniqueName("s3_flaky");

        await new RestoreService().RunAsync(new RestoreRequest { Backup = backup, Repository = repository, Connection = postgres.Connection(), TargetDatabase = target }, CancellationToken.None);
        var tested = await VerifyAsync(backup, repository, TestLevel.Restore);

        Assert.Equal(await ContentHashesAsync(postgres.Cluster, source), await ContentHashesAsync(postgres.Cluster, target));
        Assert.True(tested.Passed, tested.DescribeFailures());
        var outcomes = proxy.RequestsOf(S3Operation.GetObject).Select(r => r.Outcome).ToList();
        Assert.Contains("InternalError", outcomes);
        Assert.Equal(2, outcomes.Count(o => o == "truncated"));
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task Cancelling_a_restore_from_s3_drops_the_database_it_was_creating()
    {
        var source = PostgresFixture.UniqueName("s3_slow");
        await CreateSlowToRestoreAsync(postgres.Cluster, source);
        using var repository = s3.Repository(S3Fixture.UniquePrefix("slow"));
        var backup = await new BackupService().RunAsync(S3TestDatabases.Request(postgres, source, repository), CancellationToken.None);
        var target = PostgresFixture.UniqueName("s3_slow_new");
        var databasesBefore = await DatabasesAsync(postgres.Cluster);
        using var cancellation = new CancellationTokenSource();

        var restore = new RestoreService().RunAsync(new RestoreRequest { Backup = backup, Repository = repository, Connection = postgres.Connection(), TargetDatabase = target }, cancellation.Token);
        Assert.Equal(target, await WaitForSleepingRestoreAsync(postgres.Cluster));
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);
        Assert.Equal(databasesBefore, await DatabasesAsync(postgres.Cluster));
    }

    [Fact]
    public async Task A_corrupt_s3_object_is_refused_before_anything_is_created_or_replaced()
    {
        var (_, backup, repository) = await BackUpNorthwindAsync("refused");
        using var _ = repository;
        await FlipStoredByteAsync(backup, repository);
        var existing = PostgresFixture.UniqueName("s3_live");
        await CreateOtherDataAsync(postgres.Cluster, existing);
        var existingBefore = await SnapshotAsync(postgres.Cluster, existing);
        var databasesBefore = await DatabasesAsync(postgres.Cluster);
        var log = new RecordingLog();

        var create = await Assert.ThrowsAsync<BackupCorruptException>(() => new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = repository, Connection = postgres.Connection(), TargetDatabase = PostgresFixture.UniqueName("s3_none") },
            CancellationToken.None));
        var replace = await Assert.ThrowsAsync<BackupCorruptException>(() => new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = repository, Connection = postgres.Connection(), TargetDatabase = existing },
            CancellationToken.None));

        Assert.Equal("BackupCorrupt", create.ErrorId);
        Assert.Equal("BackupCorrupt", replace.ErrorId);
        Assert.DoesNotContain(log.Messages, m => m.StartsWith("Creating database", StringComparison.Ordinal));
        Assert.Equal(databasesBefore, await DatabasesAsync(postgres.Cluster));
        Assert.Equal(existingBefore, await SnapshotAsync(postgres.Cluster, existing));
    }

    [Fact]
    public async Task A_failed_backup_to_s3_leaves_only_a_failed_manifest_that_listing_and_summaries_count()
    {
        var prefix = S3Fixture.UniquePrefix("failed");
        using var repository = s3.Repository(prefix);
        var missing = PostgresFixture.UniqueName("no_such_db");

        var error = await Assert.ThrowsAnyAsync<PgBackupException>(() => new BackupService().RunAsync(S3TestDatabases.Request(postgres, missing, repository), CancellationToken.None));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        var manifestKey = Assert.Single(await s3.ListKeysAsync(prefix));
        Assert.EndsWith(BackupNaming.ManifestSuffix, manifestKey, StringComparison.Ordinal);
        var catalog = new BackupCatalog(repository);
        var failed = Assert.Single(await catalog.ListAsync(new CatalogQuery { Status = BackupStatus.Failed }, CancellationToken.None));
        Assert.Equal(missing, failed.Database);
        Assert.Equal(BackupStatus.Failed, failed.Status);
        Assert.False(string.IsNullOrEmpty(failed.Error));
        Assert.Null(failed.Location);
        Assert.Null(failed.Sha256);
        Assert.Equal($"s3://{s3.Bucket}/{manifestKey}", failed.ManifestLocation);
        Assert.Empty(await catalog.ListAsync(new CatalogQuery { Status = BackupStatus.Succeeded }, CancellationToken.None));

        var summary = Assert.Single(BackupSummaries.Summarize(await catalog.ListAsync(new CatalogQuery(), CancellationToken.None)));
        Assert.Equal((missing, 1, 0, 1, 0L), (summary.Database, summary.Count, summary.SucceededCount, summary.FailedCount, summary.TotalSizeBytes));
        Assert.Null(summary.LastSucceededAt);
    }

    /// <summary>Backs Northwind up (gzip, with row counts) into a fresh prefix; the stored bytes are checked against the reported hash.</summary>
    private async Task<(string Source, BackupInfo Backup, S3Repository Repository)> BackUpNorthwindAsync(string name)
    {
        var source = await S3TestDatabases.NorthwindAsync(postgres.Cluster);
        var prefix = S3Fixture.UniquePrefix(name);
        var repository = s3.Repository(prefix);
        var backup = await new BackupService().RunAsync(S3TestDatabases.Request(postgres, source, repository, BackupCompression.Gzip) with { RowCounts = true }, CancellationToken.None);
        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        Assert.Equal(backup.Sha256, s3.StoredFileSha256($"{prefix}/{backup.ArtifactKey}"));
        return (source, backup, repository);
    }

    private Task<TestResult> VerifyAsync(BackupInfo backup, S3Repository repository, TestLevel level)
        => new BackupVerifier().VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = repository, Level = level, Connection = level == TestLevel.Restore ? postgres.Connection() : null },
            CancellationToken.None);

    /// <summary>
    /// Downloads the backup's object (checked against the manifest), flips one byte in the middle and
    /// overwrites the object through the S3 API; checks s3rver really stores the corrupted copy. Returns its SHA-256.
    /// </summary>
    private async Task<string> FlipStoredByteAsync(BackupInfo backup, S3Repository repository)
    {
        using var folder = new TempFolder("pgbackup-s3-corrupt");
        var copy = Path.Combine(folder.Path, "artifact");
        var (sha256, size) = await S3Fixture.DownloadAsync(repository, backup.ArtifactKey!, copy);
        Assert.Equal((backup.Sha256, backup.SizeBytes), (sha256, size));
        var bytes = await File.ReadAllBytesAsync(copy);
        bytes[bytes.Length / 2] ^= 0x01;

        var objectKey = repository.S3.ObjectKey(backup.ArtifactKey!);
        using (var client = s3.DirectClient())
        {
            // No aws-chunked body: s3rver would store the chunk signatures (DESIGN §3).
            await client.PutObjectAsync(new PutObjectRequest { BucketName = s3.Bucket, Key = objectKey, InputStream = new MemoryStream(bytes), UseChunkEncoding = false });
        }

        var corrupted = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        Assert.Equal(corrupted, s3.StoredFileSha256(objectKey));
        Assert.NotEqual(backup.Sha256, corrupted);
        return corrupted;
    }
}
