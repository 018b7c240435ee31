using Amazon.S3.Model;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage.S3;

namespace PgBackup.Tests.Integration;

/// <summary>Backups streamed into a real S3 API (s3rver) behind a recording, fault-injecting proxy, checked byte for byte.</summary>
[Collection(PostgresCollection.Name)]
public sealed class S3BackupTests(PostgresFixture postgres, S3Fixture s3) : IClassFixture<S3Fixture>
{
    private const long FiveMiB = 5 * 1024 * 1024;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Northwind_backup_to_s3_downloads_with_the_manifest_hash_and_restores_the_same_rows()
    {
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("northwind");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(prefix, proxy.Endpoint);

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository, BackupCompression.Gzip), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        Assert.Equal($"s3://{s3.Bucket}/{prefix}", backup.Repository);
        Assert.Equal($"s3://{s3.Bucket}/{prefix}/{backup.ArtifactKey}", backup.Location);
        Assert.Equal(backup.Sha256, s3.StoredFileSha256($"{prefix}/{backup.ArtifactKey}"));

        // Small enough for one part: a single PutObject, never a multipart upload.
        Assert.Empty(proxy.RequestsOf(S3Operation.CreateMultipartUpload));
        Assert.Contains(proxy.RequestsOf(S3Operation.PutObject), r => r.Key == $"{prefix}/{backup.ArtifactKey}");

        await StoreTestDatabases.AssertDownloadRestoresSameRowsAsync(postgres.Cluster, repository, backup);
    }

    [Fact]
    public async Task A_single_part_backup_is_five_requests_the_put_etag_standing_for_the_size_check()
    {
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("requests");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(prefix, proxy.Endpoint);

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        // The bucket check, "is the name free" for artifact and manifest, and the two writes. No HEAD after the
        // artifact's PutObject: its ETag is the MD5 of exactly the bytes sent, which says more than a length.
        var artifact = $"{prefix}/{backup.ArtifactKey}";
        var manifest = $"{prefix}/{backup.ManifestKey}";
        Assert.Equal(
            [(S3Operation.ListObjects, string.Empty), (S3Operation.HeadObject, artifact), (S3Operation.PutObject, artifact), (S3Operation.HeadObject, manifest), (S3Operation.PutObject, manifest)],
            proxy.Requests.Select(r => (r.Operation, r.Key)).ToList());
        Assert.Equal(backup.Sha256, s3.StoredFileSha256(artifact));
    }

    [Fact]
    public async Task Objects_carry_metadata_storage_class_and_the_dated_key_layout()
    {
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("metadata") + "/nested";
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions { StorageClass = "ONEZONE_IA", ServerSideEncryption = S3ServerSideEncryption.AES256 });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        var started = backup.StartedAt;
        var expectedKey = $"{started:yyyy}/{started:MM}/{started:dd}/{backup.Id}.dump";
        Assert.Equal(expectedKey, backup.ArtifactKey);
        Assert.Equal(expectedKey + BackupNaming.ManifestSuffix, backup.ManifestKey);
        Assert.Equal([$"{prefix}/{expectedKey}", $"{prefix}/{expectedKey}{BackupNaming.ManifestSuffix}"], (await s3.ListKeysAsync(prefix)).Order(StringComparer.Ordinal));

        using var client = s3.DirectClient();
        var artifact = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = s3.Bucket, Key = $"{prefix}/{expectedKey}" });
        Assert.Equal("ONEZONE_IA", artifact.StorageClass?.Value);
        Assert.Equal(backup.SizeBytes, artifact.ContentLength);
        Assert.Equal(database, S3ObjectMetadata.Get(artifact.Metadata, S3ObjectMetadata.Database));
        Assert.Equal("automated", S3ObjectMetadata.Get(artifact.Metadata, S3ObjectMetadata.BackupType));
        Assert.Equal(started.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture), S3ObjectMetadata.Get(artifact.Metadata, S3ObjectMetadata.CreatedAt));
        Assert.Equal(backup.Sha256, S3ObjectMetadata.Get(artifact.Metadata, S3ObjectMetadata.Sha256));
        Assert.Equal(ToolInfo.Version, S3ObjectMetadata.Get(artifact.Metadata, S3ObjectMetadata.ToolVersion));

        // Manifests are read by every listing: STANDARD, and they carry the backup's sha256 too.
        var manifest = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = s3.Bucket, Key = $"{prefix}/{backup.ManifestKey}" });
        Assert.Equal("STANDARD", manifest.StorageClass?.Value ?? "STANDARD");
        Assert.Equal(backup.Sha256, S3ObjectMetadata.Get(manifest.Metadata, S3ObjectMetadata.Sha256));
        Assert.Equal(database, S3ObjectMetadata.Get(manifest.Metadata, S3ObjectMetadata.Database));

        // Every write asked for SSE-S3, with a plain (not aws-chunked) body and a Content-MD5.
        var writes = proxy.Requests.Where(r => r.Operation == S3Operation.PutObject).ToList();
        Assert.Equal(2, writes.Count);
        Assert.All(writes, w => Assert.Equal("AES256", w.Headers["x-amz-server-side-encryption"]));
        Assert.All(writes, w => Assert.True(w.Headers.ContainsKey("content-md5"), "Content-MD5 missing"));
        Assert.All(writes, w => Assert.DoesNotContain("aws-chunked", w.Headers.GetValueOrDefault("content-encoding") ?? string.Empty, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_dump_spanning_several_parts_round_trips_byte_for_byte_and_restores()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("multipart");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions { PartSizeBytes = FiveMiB, MaxPartsInFlight = 2, StorageClass = "STANDARD_IA" });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        var parts = proxy.RequestsOf(S3Operation.UploadPart);
        Assert.True(parts.Count >= 3, $"expected 3+ parts, saw {parts.Count}");
        Assert.Equal(Enumerable.Range(1, parts.Count), parts.Select(p => p.PartNumber!.Value).Order());
        Assert.All(parts.Where(p => p.PartNumber < parts.Count), p => Assert.Equal(FiveMiB, p.BodyLength));
        Assert.Equal(backup.SizeBytes, parts.Sum(p => p.BodyLength));
        var create = Assert.Single(proxy.RequestsOf(S3Operation.CreateMultipartUpload));
        Assert.Equal("STANDARD_IA", create.Headers["x-amz-storage-class"]);
        Assert.Single(proxy.RequestsOf(S3Operation.CompleteMultipartUpload));
        Assert.Empty(proxy.RequestsOf(S3Operation.AbortMultipartUpload));

        Assert.Equal(backup.Sha256, s3.StoredFileSha256($"{prefix}/{backup.ArtifactKey}"));

        using var client = s3.DirectClient();
        var head = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = s3.Bucket, Key = $"{prefix}/{backup.ArtifactKey}" });
        Assert.Equal("STANDARD_IA", head.StorageClass?.Value);
        Assert.Equal(database, S3ObjectMetadata.Get(head.Metadata, S3ObjectMetadata.Database));
        var manifestHead = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = s3.Bucket, Key = $"{prefix}/{backup.ManifestKey}" });
        Assert.Equal(backup.Sha256, S3ObjectMetadata.Get(manifestHead.Metadata, S3ObjectMetadata.Sha256));

        await StoreTestDatabases.AssertDownloadRestoresSameRowsAsync(postgres.Cluster, repository, backup);
    }

    [Fact]
    public async Task Transient_500_503_and_resets_are_retried_and_the_stored_object_is_still_byte_identical()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("faults");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        proxy.InjectFault(S3Operation.UploadPart, ProxyFault.InternalError, times: 2, partNumber: 1);
        proxy.InjectFault(S3Operation.UploadPart, ProxyFault.ServiceUnavailable, times: 1, partNumber: 2);
        proxy.InjectFault(S3Operation.UploadPart, ProxyFault.ResetConnection, times: 2, partNumber: 3);
        proxy.InjectFault(S3Operation.CompleteMultipartUpload, ProxyFault.ServiceUnavailable);
        proxy.InjectFault(S3Operation.PutObject, ProxyFault.ResetConnection);
        using var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions { PartSizeBytes = FiveMiB });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        var outcomes = proxy.Requests.Select(r => (r.Operation, r.PartNumber, r.Outcome)).ToList();
        Assert.Equal(2, outcomes.Count(o => o is (S3Operation.UploadPart, 1, "InternalError")));
        Assert.Contains((S3Operation.UploadPart, (int?)2, "SlowDown"), outcomes);
        Assert.Equal(2, outcomes.Count(o => o is (S3Operation.UploadPart, 3, "reset")));
        Assert.Contains((S3Operation.CompleteMultipartUpload, (int?)null, "SlowDown"), outcomes);
        Assert.Contains((S3Operation.PutObject, (int?)null, "reset"), outcomes);
        Assert.All(new[] { 1, 2, 3 }, n => Assert.Contains((S3Operation.UploadPart, (int?)n, "forwarded"), outcomes));

        var (sha256, size) = await StoredObjects.DownloadAsync(repository, backup.ArtifactKey!);
        Assert.Equal(backup.Sha256, sha256);
        Assert.Equal(backup.SizeBytes, size);
        Assert.Equal(backup.Sha256, s3.StoredFileSha256($"{prefix}/{backup.ArtifactKey}"));
        var listed = await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None);
        Assert.Equal(backup.Sha256, Assert.Single(listed).Sha256);
    }

    [Fact]
    public async Task A_server_that_answers_200_but_stores_other_bytes_fails_the_backup_and_keeps_no_artifact()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("shortpart");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        proxy.InjectFault(S3Operation.UploadPart, ProxyFault.TruncateRequestBody, times: 1, partNumber: 2);
        using var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions { PartSizeBytes = FiveMiB });

        var error = await Assert.ThrowsAsync<RepositoryWriteFailedException>(() => new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None));

        Assert.Equal("RepositoryWriteFailed", error.ErrorId);
        Assert.Contains(proxy.RequestsOf(S3Operation.UploadPart), p => p.PartNumber == 2 && p.Outcome == "body truncated" && p.Status == 200);
        Assert.Single(proxy.RequestsOf(S3Operation.CompleteMultipartUpload));
        Assert.Single(proxy.RequestsOf(S3Operation.DeleteObject));
        await UploadTestSteps.SingleFailedManifestAsync(s3, repository, prefix);
    }

    [Fact]
    public async Task Pg_dump_failing_midway_aborts_the_multipart_upload_and_leaves_no_artifact()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        await using var held = await StartBackupWithPartsHeldAsync("dumpfail", database, CancellationToken.None);
        // The first part is on the wire while pg_dump is still dumping (streaming, no temp file): kill its session now.
        await UploadTestSteps.TerminateDumpAsync(postgres.Cluster, database);
        held.Hold.Release();

        var error = await Assert.ThrowsAsync<PgDumpFailedException>(() => held.Running);
        Assert.Equal("PgDumpFailed", error.ErrorId);
        var abort = Assert.Single(held.Proxy.RequestsOf(S3Operation.AbortMultipartUpload));
        var uploadId = Assert.Single(held.Proxy.RequestsOf(S3Operation.UploadPart).Select(p => p.Query.Split('&').Single(q => q.StartsWith("uploadId=", StringComparison.Ordinal))).Distinct());
        Assert.Contains(uploadId, abort.Query, StringComparison.Ordinal);
        Assert.Empty(held.Proxy.RequestsOf(S3Operation.CompleteMultipartUpload));

        // No artifact; only the Failed attempt's manifest (so success rates stay measurable), which points at nothing.
        var failed = await UploadTestSteps.SingleFailedManifestAsync(s3, held.Repository, held.Prefix);
        Assert.Null(failed.Sha256);
        Assert.Null(failed.Location);
    }

    [Fact]
    public async Task Cancellation_aborts_the_multipart_upload_and_leaves_nothing()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        using var cancellation = new CancellationTokenSource();
        await using var held = await StartBackupWithPartsHeldAsync("cancel", database, cancellation.Token);
        await cancellation.CancelAsync();
        held.Hold.Release();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held.Running);
        Assert.Single(held.Proxy.RequestsOf(S3Operation.AbortMultipartUpload));
        Assert.Empty(held.Proxy.RequestsOf(S3Operation.CompleteMultipartUpload));
        Assert.Empty(await s3.ListKeysAsync(held.Prefix));
    }

    [Fact]
    public async Task The_writer_is_held_back_once_every_part_buffer_is_busy()
    {
        var prefix = StoredObjects.UniquePrefix("bounded");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        var hold = proxy.Hold(S3Operation.UploadPart);
        using var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions { PartSizeBytes = FiveMiB, MaxPartsInFlight = 2 });
        var upload = (S3ArtifactUpload)await repository.BeginArtifactAsync("2024/01/02/bounded.bin", new Storage.ArtifactMetadata("bounded", DateTime.UtcNow, "manual", ToolInfo.Version), expectedSizeBytes: null, CancellationToken.None);

        var (expectedSha256, length) = await UploadTestSteps.AssertWriterIsHeldBackAsync(upload.Content, hold, FiveMiB);

        await upload.CommitAsync(sha256: "unused-in-multipart", sizeBytes: length, CancellationToken.None);
        Assert.True(upload.BuffersAllocated <= 3, $"{upload.BuffersAllocated} part buffers allocated");
        var (sha256, size) = await StoredObjects.DownloadAsync(repository, "2024/01/02/bounded.bin");
        Assert.Equal(expectedSha256, sha256);
        Assert.Equal(length, size);
    }

    [Fact]
    public async Task A_database_with_a_hostile_name_backs_up_to_s3_and_keeps_its_name_in_metadata()
    {
        var database = "Tëst \"quoted\" db; 'x' " + Guid.NewGuid().ToString("N")[..6];
        await postgres.Cluster.CreateDatabaseAsync(database);
        await postgres.Cluster.PsqlAsync(database, "CREATE TABLE \"odd table\" (id int); INSERT INTO \"odd table\" SELECT generate_series(1, 42);");
        var prefix = StoredObjects.UniquePrefix("hostile");
        using var repository = s3.Repository(prefix);

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(database, backup.Database);
        using var client = s3.DirectClient();
        var head = await client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = s3.Bucket, Key = $"{prefix}/{backup.ArtifactKey}" });
        Assert.Equal(database, S3ObjectMetadata.Get(head.Metadata, S3ObjectMetadata.Database));
        var listed = Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery { DatabasePatterns = ["Tëst*"] }, CancellationToken.None));
        Assert.Equal(backup.Id, listed.Id);
        await StoreTestDatabases.AssertDownloadRestoresSameRowsAsync(postgres.Cluster, repository, backup);
    }

    /// <summary>Starts a multipart backup of <paramref name="database"/> whose part uploads the proxy holds; returns once the first part is held.</summary>
    private async Task<HeldBackup> StartBackupWithPartsHeldAsync(string name, string database, CancellationToken cancellationToken)
    {
        var prefix = StoredObjects.UniquePrefix(name);
        var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        var hold = proxy.Hold(S3Operation.UploadPart);
        var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions { PartSizeBytes = FiveMiB, MaxPartsInFlight = 2 });
        var running = new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), cancellationToken);
        await hold.WaitForHeldAsync(1, Patience);
        Assert.False(running.IsCompleted);
        return new HeldBackup(prefix, proxy, hold, repository, running);
    }

    private sealed record HeldBackup(string Prefix, S3FaultProxy Proxy, RequestHold<S3Operation> Hold, S3Repository Repository, Task<BackupInfo> Running) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Hold.Release();
            Repository.Dispose();
            await Proxy.DisposeAsync();
        }
    }
}
