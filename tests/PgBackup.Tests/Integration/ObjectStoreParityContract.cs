using System.Security.Cryptography;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Restore;
using PgBackup.Storage;
using PgBackup.Verification;
using static PgBackup.Tests.Integration.RestoreTestSupport;

namespace PgBackup.Tests.Integration;

/// <summary>
/// What works on a local repository works on every object store: Test-PgBackup's and Restore-PgBackup's
/// cores read backups back from a real store API (s3rver, Azurite), a failed backup is recorded there, and
/// a listing pages through 1,250 manifests. Every object is checked by the hash of what the server
/// stores, never trusted from a 2xx. A store joins by deriving and naming its fixture
/// (<see cref="S3ParityTests"/>, <see cref="AzureParityTests"/>).
/// </summary>
public abstract class ObjectStoreParityContract
{
    private readonly PostgresFixture _postgres;
    private readonly IStoreUnderTest _store;

    /// <summary>The fixtures of one store (its server) and of PostgreSQL; private protected, as the store's view hands internal types around.</summary>
    private protected ObjectStoreParityContract(PostgresFixture postgres, IStoreUnderTest store)
    {
        _postgres = postgres;
        _store = store;
    }

    [Fact]
    public async Task Listing_1250_manifests_pages_through_all_of_them_newest_first_without_downloading_artifacts()
    {
        const int count = 1250;
        var prefix = StoredObjects.UniquePrefix("listing");
        var writer = _store.Repository(prefix);
        using (writer as IDisposable)
        {
            var origin = new DateTime(2024, 3, 1, 0, 0, 0, DateTimeKind.Utc);
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
            {
                // Spread over many days (and so folders), written in an order unrelated to time.
                var started = origin.AddMinutes(((i * 7919L) % count) * 97);
                var id = BackupNaming.CreateId("db" + (i % 5), started, (i % 65536).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                var artifactKey = BackupNaming.ArtifactKey(id, started, ".dump");
                var manifest = new BackupManifest
                {
                    Tool = ToolInfo.Name,
                    ToolVersion = ToolInfo.Version,
                    Id = id,
                    Database = "db" + (i % 5),
                    Server = "127.0.0.1:5432",
                    StartedAt = started,
                    CompletedAt = started.AddSeconds(3),
                    Artifact = artifactKey[(artifactKey.LastIndexOf('/') + 1)..],
                    SizeBytes = 3,
                    Sha256 = new string('a', 64),
                    Status = BackupStatus.Succeeded,
                };
                if (i % 250 == 0)
                {
                    await writer.WriteSmallObjectAsync(artifactKey, "abc"u8.ToArray(), metadata: null, ct);
                }

                await writer.WriteSmallObjectAsync(BackupNaming.ManifestKeyFor(artifactKey), ManifestSerializer.Serialize(manifest), metadata: null, ct);
            });
        }

        // Pages of 500 where the client may choose (Azure's maximum, 5,000, would fit everything in one).
        await using var proxied = _store.ThroughProxy(prefix, listPageSize: 500);
        var backups = await new BackupCatalog(proxied.Repository).ListAsync(new CatalogQuery(), CancellationToken.None);

        Assert.Equal(count, backups.Count);
        Assert.Equal(count, backups.Select(b => b.Id).Distinct().Count());
        Assert.Equal(backups.OrderByDescending(b => b.StartedAt).ThenByDescending(b => b.Id, StringComparer.Ordinal).Select(b => b.Id), backups.Select(b => b.Id));
        Assert.True(backups[0].StartedAt > backups[^1].StartedAt);
        // (An Azure URL names its endpoint: here the proxy's.)
        Assert.All(backups, b => Assert.StartsWith($"{proxied.Repository.Location}/", b.ManifestLocation, StringComparison.Ordinal));
        Assert.EndsWith(prefix, proxied.Repository.Location, StringComparison.Ordinal);

        // Paginated (1,000 or 500 keys a page), one GET per manifest, none for an artifact.
        Assert.True(proxied.ListRequests >= 3, $"{proxied.ListRequests} listing requests");
        var gets = proxied.Reads;
        Assert.Equal(count, gets.Count);
        Assert.All(gets, g => Assert.EndsWith(BackupNaming.ManifestSuffix, g.Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_backup_passes_the_checksum_structure_and_restore_levels()
    {
        var (source, backup, repository) = await BackUpNorthwindAsync("verify");
        using var _ = repository as IDisposable;

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
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(_postgres));
    }

    [Fact]
    public async Task A_flipped_byte_in_the_stored_object_fails_the_checksum_and_the_restore_level()
    {
        var (_, backup, repository) = await BackUpNorthwindAsync("flipped");
        using var _ = repository as IDisposable;
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
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(_postgres));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_backup_restores_into_a_new_database_with_the_same_schema_and_content(int jobs)
    {
        var (source, backup, repository) = await BackUpNorthwindAsync("restore");
        using var _ = repository as IDisposable;
        var target = PostgresFixture.UniqueName("store_restored");
        string? archivePath = null;
        var log = new RecordingLog(message =>
        {
            if (message.Contains(" jobs from ", StringComparison.Ordinal))
            {
                archivePath = message[(message.IndexOf(" jobs from ", StringComparison.Ordinal) + " jobs from ".Length)..].TrimEnd('.');
            }
        });

        var result = await new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = repository, Connection = _postgres.Connection(), TargetDatabase = target, Jobs = jobs },
            CancellationToken.None);

        Assert.False(result.Replaced);
        Assert.Equal(target, result.TargetDatabase);
        var hashes = await ContentHashesAsync(_postgres.Cluster, target);
        Assert.Equal(14, hashes.Count);
        Assert.Equal(await ContentHashesAsync(_postgres.Cluster, source), hashes);
        Assert.Equal(await _postgres.Cluster.SchemaDumpAsync(source), await _postgres.Cluster.SchemaDumpAsync(target));
        if (jobs > 1)
        {
            // Parallel pg_restore needs a seekable archive: the stored object went through a temporary file, now deleted.
            Assert.NotNull(archivePath);
            Assert.False(File.Exists(archivePath), archivePath);
        }
        else
        {
            Assert.Null(archivePath);
        }
    }

    [Fact]
    public async Task A_restore_and_a_restore_level_test_survive_broken_and_failing_reads()
    {
        var (source, backup, direct) = await BackUpNorthwindAsync("flaky");
        (direct as IDisposable)?.Dispose();
        await using var proxied = _store.ThroughProxy(PrefixOf(backup));
        proxied.InjectReadFault(ProxyFault.InternalError, 1);
        proxied.InjectReadFault(ProxyFault.TruncateResponseBody, 2);
        var target = PostgresFixture.UniqueName("store_flaky");

        await new RestoreService().RunAsync(new RestoreRequest { Backup = backup, Repository = proxied.Repository, Connection = _postgres.Connection(), TargetDatabase = target }, CancellationToken.None);
        var tested = await VerifyAsync(backup, proxied.Repository, TestLevel.Restore);

        Assert.Equal(await ContentHashesAsync(_postgres.Cluster, source), await ContentHashesAsync(_postgres.Cluster, target));
        Assert.True(tested.Passed, tested.DescribeFailures());
        var outcomes = proxied.Reads.Select(r => r.Outcome).ToList();
        Assert.Contains("InternalError", outcomes);
        Assert.Equal(2, outcomes.Count(o => o == "truncated"));
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(_postgres));
    }

    [Fact]
    public async Task Cancelling_a_restore_drops_the_database_it_was_creating()
    {
        var source = PostgresFixture.UniqueName("store_slow");
        await CreateSlowToRestoreAsync(_postgres.Cluster, source);
        var repository = _store.Repository(StoredObjects.UniquePrefix("slow"));
        using var _ = repository as IDisposable;
        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(_postgres, source, repository), CancellationToken.None);
        var target = PostgresFixture.UniqueName("store_slow_new");
        var databasesBefore = await DatabasesAsync(_postgres.Cluster);
        using var cancellation = new CancellationTokenSource();

        var restore = new RestoreService().RunAsync(new RestoreRequest { Backup = backup, Repository = repository, Connection = _postgres.Connection(), TargetDatabase = target }, cancellation.Token);
        // A new target is restored under a staging name too (issue 9.8): the final name appears only when complete.
        Assert.StartsWith(target + RestoreNaming.StagingMarker, await WaitForSleepingRestoreAsync(_postgres.Cluster), StringComparison.Ordinal);
        Assert.DoesNotContain(target, await DatabasesAsync(_postgres.Cluster));
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);
        Assert.Equal(databasesBefore, await DatabasesAsync(_postgres.Cluster));
    }

    [Fact]
    public async Task A_corrupt_stored_object_is_refused_before_anything_is_created_or_replaced()
    {
        var (_, backup, repository) = await BackUpNorthwindAsync("refused");
        using var _ = repository as IDisposable;
        await FlipStoredByteAsync(backup, repository);
        var existing = PostgresFixture.UniqueName("store_live");
        await CreateOtherDataAsync(_postgres.Cluster, existing);
        var existingBefore = await SnapshotAsync(_postgres.Cluster, existing);
        var databasesBefore = await DatabasesAsync(_postgres.Cluster);
        var log = new RecordingLog();

        var create = await Assert.ThrowsAsync<BackupCorruptException>(() => new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = repository, Connection = _postgres.Connection(), TargetDatabase = PostgresFixture.UniqueName("store_none") },
            CancellationToken.None));
        var replace = await Assert.ThrowsAsync<BackupCorruptException>(() => new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = repository, Connection = _postgres.Connection(), TargetDatabase = existing },
            CancellationToken.None));

        Assert.Equal("BackupCorrupt", create.ErrorId);
        Assert.Equal("BackupCorrupt", replace.ErrorId);
        Assert.DoesNotContain(log.Messages, m => m.StartsWith("Creating database", StringComparison.Ordinal));
        Assert.Equal(databasesBefore, await DatabasesAsync(_postgres.Cluster));
        Assert.Equal(existingBefore, await SnapshotAsync(_postgres.Cluster, existing));
    }

    [Fact]
    public async Task A_failed_backup_leaves_only_a_failed_manifest_that_listing_and_summaries_count()
    {
        var prefix = StoredObjects.UniquePrefix("failed");
        var repository = _store.Repository(prefix);
        using var _ = repository as IDisposable;
        var missing = PostgresFixture.UniqueName("no_such_db");

        var error = await Assert.ThrowsAnyAsync<PgBackupException>(() => new BackupService().RunAsync(StoreTestDatabases.Request(_postgres, missing, repository), CancellationToken.None));

        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
        var manifestKey = Assert.Single(await _store.ListKeysAsync(prefix));
        Assert.EndsWith(BackupNaming.ManifestSuffix, manifestKey, StringComparison.Ordinal);
        var catalog = new BackupCatalog(repository);
        var failed = Assert.Single(await catalog.ListAsync(new CatalogQuery { Status = BackupStatus.Failed }, CancellationToken.None));
        Assert.Equal(missing, failed.Database);
        Assert.Equal(BackupStatus.Failed, failed.Status);
        Assert.False(string.IsNullOrEmpty(failed.Error));
        Assert.Null(failed.Location);
        Assert.Null(failed.Sha256);
        Assert.Equal($"{_store.RepositoryLocation(prefix)}/{manifestKey[(prefix.Length + 1)..]}", failed.ManifestLocation);
        Assert.Empty(await catalog.ListAsync(new CatalogQuery { Status = BackupStatus.Succeeded }, CancellationToken.None));

        var summary = Assert.Single(BackupSummaries.Summarize(await catalog.ListAsync(new CatalogQuery(), CancellationToken.None)));
        Assert.Equal((missing, 1, 0, 1, 0L), (summary.Database, summary.Count, summary.SucceededCount, summary.FailedCount, summary.TotalSizeBytes));
        Assert.Null(summary.LastSucceededAt);
    }

    [Fact]
    public async Task Latest_and_retention_of_one_database_among_2000_others_read_only_its_own_manifests()
    {
        var prefix = StoredObjects.UniquePrefix("select");
        var writer = _store.Repository(prefix);
        var origin = new DateTime(2025, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        List<BackupInfo> target = [];
        using (writer as IDisposable)
        {
            await Parallel.ForAsync(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (i, ct) =>
                await WriteManifestAsync(writer, "other" + (i % 7), origin.AddMinutes(i * 37), (i % 65536).ToString("x4", System.Globalization.CultureInfo.InvariantCulture), BackupStatus.Succeeded, ct));
            for (var day = 0; day < 3; day++)
            {
                target.Add(await WriteManifestAsync(writer, "shop", origin.AddDays(day * 10), "0c0" + day.ToString(System.Globalization.CultureInfo.InvariantCulture), BackupStatus.Succeeded, CancellationToken.None));
            }

            // A newer failed attempt: -Latest looks past it to the newest good backup.
            await WriteManifestAsync(writer, "shop", origin.AddDays(25), "0f00", BackupStatus.Failed, CancellationToken.None);
            // Another database whose name differs only in case is another database.
            await WriteManifestAsync(writer, "SHOP", origin.AddDays(40), "0e00", BackupStatus.Succeeded, CancellationToken.None);
        }

        await using var proxied = _store.ThroughProxy(prefix);
        var latest = await new BackupCatalog(proxied.Repository).ListAsync(new CatalogQuery { DatabasePatterns = ["shop"], LatestOnly = true }, CancellationToken.None);

        Assert.Equal(target[^1].Id, Assert.Single(latest).Id);
        Assert.InRange(proxied.Reads.Count, 1, 3);

        var readsBefore = proxied.Reads.Count;
        var result = await new Retention.RetentionService().RunAsync(
            new Retention.RetentionRequest { Repository = proxied.Repository, Policy = new Retention.RetentionPolicy { KeepLast = 2 }, DatabasePatterns = ["shop"] },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Equal(target[0].Id, Assert.Single(result.Removed).Id);
        var retentionReads = proxied.Reads.Skip(readsBefore).ToList();
        Assert.Equal(4, retentionReads.Count);
        Assert.All(retentionReads, r => Assert.Contains("/shop_", r.Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_manifest_over_16_MiB_is_skipped_with_a_warning_naming_it_and_the_rest_is_listed()
    {
        var prefix = StoredObjects.UniquePrefix("oversize");
        var repository = _store.Repository(prefix);
        using var _ = repository as IDisposable;
        var started = new DateTime(2025, 6, 1, 1, 0, 0, DateTimeKind.Utc);
        var good = await WriteManifestAsync(repository, "shop", started, "0001", BackupStatus.Succeeded, CancellationToken.None);
        // A valid manifest padded past the bound: only its size makes it invalid.
        var big = await WriteManifestAsync(repository, "shop", started.AddHours(1), "0002", BackupStatus.Succeeded, CancellationToken.None);
        var json = System.Text.Encoding.UTF8.GetString(ManifestSerializer.Serialize(ManifestSerializer.Deserialize(await repository.ReadSmallObjectAsync(big.ManifestKey, CancellationToken.None), big.ManifestLocation)));
        await _store.ReplaceAsync($"{prefix}/{big.ManifestKey}", System.Text.Encoding.UTF8.GetBytes(json.TrimEnd().TrimEnd('}') + new string(' ', 17 * 1024 * 1024) + "}"));
        var log = new RecordingLog();

        var listed = await new BackupCatalog(repository, log).ListAsync(new CatalogQuery(), CancellationToken.None);

        Assert.Equal(good.Id, Assert.Single(listed).Id);
        Assert.Contains(log.Messages, m => m.Contains(big.ManifestLocation, StringComparison.Ordinal) && m.Contains("16 MiB", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_manifest_or_artifact_is_never_overwritten()
    {
        var prefix = StoredObjects.UniquePrefix("create-only");
        var repository = _store.Repository(prefix);
        using var _ = repository as IDisposable;
        var backup = await WriteManifestAsync(repository, "shop", new DateTime(2025, 6, 1, 1, 0, 0, DateTimeKind.Utc), "0001", BackupStatus.Succeeded, CancellationToken.None);
        await repository.WriteSmallObjectAsync(backup.ArtifactKey!, "abc"u8.ToArray(), metadata: null, CancellationToken.None);
        var manifestSha = _store.StoredSha256($"{prefix}/{backup.ManifestKey}");

        var manifest = await Assert.ThrowsAsync<RepositoryObjectExistsException>(
            () => repository.WriteSmallObjectAsync(backup.ManifestKey, "{}"u8.ToArray(), metadata: null, CancellationToken.None));
        var artifact = await Assert.ThrowsAsync<RepositoryObjectExistsException>(
            () => repository.BeginArtifactAsync(backup.ArtifactKey!, new ArtifactMetadata("shop", backup.StartedAt, "manual", "test"), 3, CancellationToken.None));

        Assert.Equal("RepositoryObjectExists", manifest.ErrorId);
        Assert.Equal("RepositoryObjectExists", artifact.ErrorId);
        Assert.Equal(manifestSha, _store.StoredSha256($"{prefix}/{backup.ManifestKey}"));
        Assert.Equal(2, (await _store.ListKeysAsync(prefix)).Count);
    }

    /// <summary>A manifest (no artifact object) as BackupService writes it.</summary>
    private static async Task<BackupInfo> WriteManifestAsync(IBackupRepository repository, string database, DateTime started, string hex, BackupStatus status, CancellationToken cancellationToken)
    {
        var id = BackupNaming.CreateId(database, started, hex);
        var artifactKey = BackupNaming.ArtifactKey(id, started, ".dump");
        var manifest = new BackupManifest
        {
            Tool = ToolInfo.Name,
            ToolVersion = ToolInfo.Version,
            Id = id,
            Database = database,
            Server = "127.0.0.1:5432",
            StartedAt = started,
            CompletedAt = started.AddSeconds(3),
            Artifact = status == BackupStatus.Succeeded ? artifactKey[(artifactKey.LastIndexOf('/') + 1)..] : null,
            SizeBytes = 3,
            Sha256 = new string('a', 64),
            Status = status,
        };
        var manifestKey = BackupNaming.ManifestKeyFor(artifactKey);
        await repository.WriteSmallObjectAsync(manifestKey, ManifestSerializer.Serialize(manifest), metadata: null, cancellationToken);
        return new BackupCatalog(repository).ToBackupInfo(manifest, manifestKey);
    }

    /// <summary>Backs Northwind up (gzip, with row counts) into a fresh prefix; the stored bytes are checked against the reported hash.</summary>
    private async Task<(string Source, BackupInfo Backup, IBackupRepository Repository)> BackUpNorthwindAsync(string name)
    {
        var source = await StoreTestDatabases.NorthwindAsync(_postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix(name);
        var repository = _store.Repository(prefix);
        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(_postgres, source, repository, BackupCompression.Gzip) with { RowCounts = true }, CancellationToken.None);
        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        Assert.Equal(_store.RepositoryLocation(prefix), backup.Repository);
        Assert.Equal(backup.Sha256, _store.StoredSha256($"{prefix}/{backup.ArtifactKey}"));
        return (source, backup, repository);
    }

    /// <summary>The prefix a backup of <see cref="BackUpNorthwindAsync"/> went to.</summary>
    private string PrefixOf(BackupInfo backup) => backup.Repository[(_store.RepositoryLocation(string.Empty).Length + 1)..];

    private Task<TestResult> VerifyAsync(BackupInfo backup, IBackupRepository repository, TestLevel level)
        => new BackupVerifier().VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = repository, Level = level, Connection = level == TestLevel.Restore ? _postgres.Connection() : null },
            CancellationToken.None);

    /// <summary>
    /// Downloads the backup's object (checked against the manifest), flips one byte in the middle and
    /// overwrites the stored object on the server; checks the server really stores the corrupted copy. Returns its SHA-256.
    /// </summary>
    private async Task<string> FlipStoredByteAsync(BackupInfo backup, IBackupRepository repository)
    {
        using var folder = new TempFolder("pgbackup-store-corrupt");
        var copy = Path.Combine(folder.Path, "artifact");
        var (sha256, size) = await StoredObjects.DownloadAsync(repository, backup.ArtifactKey!, copy);
        Assert.Equal((backup.Sha256, backup.SizeBytes), (sha256, size));
        var bytes = await File.ReadAllBytesAsync(copy);
        bytes[bytes.Length / 2] ^= 0x01;

        var objectKey = $"{PrefixOf(backup)}/{backup.ArtifactKey}";
        await _store.ReplaceAsync(objectKey, bytes);

        var corrupted = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        Assert.Equal(corrupted, _store.StoredSha256(objectKey));
        Assert.NotEqual(backup.Sha256, corrupted);
        return corrupted;
    }
}
