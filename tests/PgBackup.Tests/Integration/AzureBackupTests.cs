using System.Globalization;
using System.Security.Cryptography;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Sas;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Storage.Azure;

namespace PgBackup.Tests.Integration;

/// <summary>
/// Backups streamed into Azure Blob Storage (Azurite) behind a recording, fault-injecting proxy, checked
/// byte for byte: downloaded with the Azure SDK straight from Azurite, and read through Azurite's REST API.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class AzureBackupTests(PostgresFixture postgres, AzureFixture azure) : IClassFixture<AzureFixture>
{
    private const long MiB = 1024 * 1024;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Northwind_backup_downloads_with_the_sdk_with_the_manifest_hash_and_restores_the_same_rows()
    {
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("northwind");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint);

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository, BackupCompression.Gzip), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        Assert.Equal($"{proxy.ServiceEndpoint}/{azure.Container}/{prefix}", backup.Repository);
        Assert.Equal($"{backup.Repository}/{backup.ArtifactKey}", backup.Location);
        // A URL names its endpoint: the descriptor has nothing to add.
        Assert.Equal(new RepositoryDescriptor(backup.Repository), backup.RepositoryDescriptor);

        // Downloaded with the SDK itself, straight from Azurite: the manifest's SHA-256 is what is stored.
        var blob = new BlobClient(new Uri(azure.Server.BlobUrl(azure.Container, $"{prefix}/{backup.ArtifactKey}")), new StorageSharedKeyCredential(AzuriteServer.AccountName, azure.Server.AccountKey));
        var downloaded = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        Assert.Equal(backup.Sha256, Convert.ToHexString(SHA256.HashData(downloaded)).ToLowerInvariant());
        Assert.Equal(backup.SizeBytes, downloaded.Length);

        // Small enough for one block: a single Put Blob, never staged blocks; the manifest written last.
        Assert.Empty(proxy.RequestsOf(AzureOperation.PutBlock));
        Assert.Equal([$"{prefix}/{backup.ArtifactKey}", $"{prefix}/{backup.ManifestKey}"], proxy.RequestsOf(AzureOperation.PutBlob).Select(r => r.Key));

        await StoreTestDatabases.AssertDownloadRestoresSameRowsAsync(postgres.Cluster, repository, backup);
    }

    [Fact]
    public async Task Blobs_carry_metadata_the_access_tier_content_md5_and_the_dated_key_layout()
    {
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("metadata") + "/nested";
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { AccessTier = "cold" });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        var started = backup.StartedAt;
        var expectedKey = $"{started:yyyy}/{started:MM}/{started:dd}/{backup.Id}.dump";
        Assert.Equal(expectedKey, backup.ArtifactKey);
        Assert.Equal([$"{prefix}/{expectedKey}", $"{prefix}/{expectedKey}{BackupNaming.ManifestSuffix}"], await azure.ListKeysAsync(prefix));

        var artifact = azure.Server.GetBlobProperties(azure.Container, $"{prefix}/{expectedKey}")!;
        var stored = await azure.Server.GetBlobAsync(azure.Container, $"{prefix}/{expectedKey}");
        Assert.Equal("Cold", artifact["x-ms-access-tier"]);
        Assert.Equal(backup.SizeBytes.ToString(CultureInfo.InvariantCulture), artifact["content-length"]);
        Assert.Equal(Convert.ToBase64String(MD5.HashData(stored)), artifact["content-md5"]);
        Assert.Equal(Uri.EscapeDataString(database), artifact["x-ms-meta-database"]);
        Assert.Equal("automated", artifact["x-ms-meta-backup_type"]);
        Assert.Equal(started.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), artifact["x-ms-meta-created_at"]);
        Assert.Equal(backup.Sha256, artifact["x-ms-meta-sha256"]);
        Assert.Equal(ToolInfo.Version, Uri.UnescapeDataString(artifact["x-ms-meta-tool_version"]));

        // Manifests are read by every listing: Hot, and they carry the backup's sha256 too.
        var manifest = azure.Server.GetBlobProperties(azure.Container, $"{prefix}/{backup.ManifestKey}")!;
        Assert.Equal("Hot", manifest["x-ms-access-tier"]);
        Assert.Equal(backup.Sha256, manifest["x-ms-meta-sha256"]);
        Assert.Equal("application/json", manifest["content-type"]);

        // Every body went with a Content-MD5 the service checks.
        var writes = proxy.RequestsOf(AzureOperation.PutBlob);
        Assert.Equal(2, writes.Count);
        Assert.All(writes, w => Assert.True(w.Headers.ContainsKey("content-md5"), "Content-MD5 missing"));
        Assert.Equal("Cold", writes[0].Headers["x-ms-access-tier"]);
        Assert.Equal("*", writes[0].Headers["if-none-match"]);
    }

    [Fact]
    public async Task A_dump_spanning_many_blocks_round_trips_byte_for_byte_and_restores()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("blocks");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { BlockSizeBytes = MiB, MaxBlocksInFlight = 3 });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        var blocks = proxy.RequestsOf(AzureOperation.PutBlock);
        Assert.True(blocks.Count >= 20, $"expected 20+ blocks, saw {blocks.Count}");
        Assert.Equal(Enumerable.Range(1, blocks.Count), blocks.Select(b => b.PartNumber!.Value).Order());
        Assert.All(blocks.Where(b => b.PartNumber < blocks.Count), b => Assert.Equal(MiB, b.BodyLength));
        Assert.All(blocks, b => Assert.True(b.Headers.ContainsKey("content-md5"), "Content-MD5 missing"));
        Assert.Equal(backup.SizeBytes, blocks.Sum(b => b.BodyLength));
        var commit = Assert.Single(proxy.RequestsOf(AzureOperation.PutBlockList));
        Assert.Equal("Cool", commit.Headers["x-ms-access-tier"]);
        Assert.Equal("*", commit.Headers["if-none-match"]);
        Assert.Equal(backup.Sha256, commit.Headers["x-ms-meta-sha256"]);

        Assert.Equal(backup.Sha256, azure.StoredSha256($"{prefix}/{backup.ArtifactKey}"));
        var properties = azure.Server.GetBlobProperties(azure.Container, $"{prefix}/{backup.ArtifactKey}")!;
        Assert.Equal("Cool", properties["x-ms-access-tier"]);
        Assert.Equal(Convert.ToBase64String(MD5.HashData(await azure.Server.GetBlobAsync(azure.Container, $"{prefix}/{backup.ArtifactKey}"))), properties["content-md5"]);

        await StoreTestDatabases.AssertDownloadRestoresSameRowsAsync(postgres.Cluster, repository, backup);
    }

    [Fact]
    public async Task Transient_500_503_and_resets_are_retried_and_the_stored_blob_is_still_byte_identical()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("faults");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        proxy.InjectFault(AzureOperation.PutBlock, ProxyFault.InternalError, times: 2, partNumber: 1);
        proxy.InjectFault(AzureOperation.PutBlock, ProxyFault.ServiceUnavailable, times: 1, partNumber: 2);
        proxy.InjectFault(AzureOperation.PutBlock, ProxyFault.ResetConnection, times: 2, partNumber: 3);
        proxy.InjectFault(AzureOperation.PutBlockList, ProxyFault.ServiceUnavailable);
        proxy.InjectFault(AzureOperation.PutBlob, ProxyFault.ResetConnection);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { BlockSizeBytes = 4 * MiB });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        var outcomes = proxy.Requests.Select(r => (r.Operation, r.PartNumber, r.Outcome)).ToList();
        Assert.Equal(2, outcomes.Count(o => o is (AzureOperation.PutBlock, 1, "InternalError")));
        Assert.Contains((AzureOperation.PutBlock, (int?)2, "ServerBusy"), outcomes);
        Assert.Equal(2, outcomes.Count(o => o is (AzureOperation.PutBlock, 3, "reset")));
        Assert.Contains((AzureOperation.PutBlockList, (int?)null, "ServerBusy"), outcomes);
        Assert.Contains((AzureOperation.PutBlob, (int?)null, "reset"), outcomes);
        Assert.All(new[] { 1, 2, 3 }, n => Assert.Contains((AzureOperation.PutBlock, (int?)n, "forwarded"), outcomes));

        var (sha256, size) = await StoredObjects.DownloadAsync(repository, backup.ArtifactKey!);
        Assert.Equal((backup.Sha256, backup.SizeBytes), (sha256, size));
        Assert.Equal(backup.Sha256, azure.StoredSha256($"{prefix}/{backup.ArtifactKey}"));
        Assert.Equal(backup.Sha256, Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None)).Sha256);
    }

    [Fact]
    public async Task A_commit_whose_answer_was_lost_is_recognised_as_this_backups_own_and_never_fails_the_backup()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("lostcommit");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        // Azurite commits the block list; the answer never reaches the client, whose retry then finds the blob there.
        proxy.InjectFault(AzureOperation.PutBlockList, ProxyFault.DropResponse);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { BlockSizeBytes = 4 * MiB });

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        var commits = proxy.RequestsOf(AzureOperation.PutBlockList);
        Assert.Equal("response dropped", commits[0].Outcome);
        Assert.Equal(409, commits[1].Status);
        Assert.Empty(proxy.RequestsOf(AzureOperation.DeleteBlob));
        Assert.Equal(backup.Sha256, azure.StoredSha256($"{prefix}/{backup.ArtifactKey}"));
    }

    [Fact]
    public async Task A_server_that_answers_201_but_stores_other_bytes_fails_the_backup_and_keeps_no_blob()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        var prefix = StoredObjects.UniquePrefix("shortblock");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        proxy.InjectFault(AzureOperation.PutBlock, ProxyFault.TruncateRequestBody, times: 1, partNumber: 2);
        // A SAS signs no header, so the proxy can drop the block's Content-MD5 (Shared Key would refuse the request).
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions
        {
            BlockSizeBytes = 4 * MiB,
            Environment = azure.SasEnvironment(BlobContainerSasPermissions.All),
        });

        var error = await Assert.ThrowsAsync<RepositoryWriteFailedException>(() => new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None));

        Assert.Equal("RepositoryWriteFailed", error.ErrorId);
        Assert.Contains("bytes after the upload", error.Message, StringComparison.Ordinal);
        Assert.Contains(proxy.RequestsOf(AzureOperation.PutBlock), b => b.PartNumber == 2 && b.Outcome == "body truncated" && b.Status == 201);
        Assert.Single(proxy.RequestsOf(AzureOperation.PutBlockList));
        Assert.Single(proxy.RequestsOf(AzureOperation.DeleteBlob));
        await UploadTestSteps.SingleFailedManifestAsync(azure, repository, prefix);
    }

    [Fact]
    public async Task Pg_dump_failing_midway_commits_no_block_list_and_leaves_only_a_failed_manifest()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        await using var held = await StartBackupWithBlocksHeldAsync("dumpfail", database, CancellationToken.None);
        // The first block is on the wire while pg_dump is still dumping (streaming, no temp file): kill its session now.
        await UploadTestSteps.TerminateDumpAsync(postgres.Cluster, database);
        held.Hold.Release();

        var error = await Assert.ThrowsAsync<PgDumpFailedException>(() => held.Running);
        Assert.Equal("PgDumpFailed", error.ErrorId);
        Assert.Empty(held.Proxy.RequestsOf(AzureOperation.PutBlockList));
        Assert.DoesNotContain(held.Proxy.RequestsOf(AzureOperation.PutBlob), r => !r.Key.EndsWith(BackupNaming.ManifestSuffix, StringComparison.Ordinal));

        // No artifact (its staged blocks are no blob); only the Failed attempt's manifest, which points at nothing.
        var failed = await UploadTestSteps.SingleFailedManifestAsync(azure, held.Repository, held.Prefix);
        Assert.Null(failed.Sha256);
        Assert.Null(failed.Location);
    }

    [Fact]
    public async Task Cancellation_mid_upload_commits_nothing_and_leaves_no_blob()
    {
        var database = await StoreTestDatabases.LargeAsync(postgres.Cluster);
        using var cancellation = new CancellationTokenSource();
        await using var held = await StartBackupWithBlocksHeldAsync("cancel", database, cancellation.Token);
        await cancellation.CancelAsync();
        held.Hold.Release();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => held.Running);
        Assert.Empty(held.Proxy.RequestsOf(AzureOperation.PutBlockList));
        Assert.Empty(held.Proxy.RequestsOf(AzureOperation.PutBlob));
        Assert.Empty(await azure.ListKeysAsync(held.Prefix));
        Assert.Null(azure.Server.GetBlobProperties(azure.Container, held.Prefix));
    }

    [Fact]
    public async Task The_writer_is_held_back_once_every_block_buffer_is_busy()
    {
        var prefix = StoredObjects.UniquePrefix("bounded");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var hold = proxy.Hold(AzureOperation.PutBlock);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { BlockSizeBytes = 4 * MiB, MaxBlocksInFlight = 2 });
        await using var upload = (AzureArtifactUpload)await repository.BeginArtifactAsync("2024/01/02/bounded.bin", new ArtifactMetadata("bounded", DateTime.UtcNow, "manual", ToolInfo.Version), expectedSizeBytes: null, CancellationToken.None);

        var (sha256, length) = await UploadTestSteps.AssertWriterIsHeldBackAsync(upload.Content, hold, 4 * MiB);

        await upload.CommitAsync(sha256, length, CancellationToken.None);
        Assert.True(upload.BuffersAllocated <= 3, $"{upload.BuffersAllocated} block buffers allocated");
        Assert.Equal(10, proxy.RequestsOf(AzureOperation.PutBlock).Count);
        Assert.Equal(sha256, azure.StoredSha256($"{prefix}/2024/01/02/bounded.bin"));
    }

    [Fact]
    public async Task An_upload_never_replaces_a_blob_that_is_already_there()
    {
        var prefix = StoredObjects.UniquePrefix("existing");
        var repository = azure.Repository(prefix);
        var original = "someone else's bytes"u8.ToArray();
        await azure.ReplaceAsync($"{prefix}/2024/01/02/taken.dump", original);
        var content = new byte[(5 * MiB) + 123];
        Random.Shared.NextBytes(content);

        // A taken key is its own typed error (the backup draws another name on it), never an overwrite.
        var error = await Assert.ThrowsAsync<RepositoryObjectExistsException>(async () =>
        {
            await using var upload = await repository.BeginArtifactAsync("2024/01/02/taken.dump", new ArtifactMetadata("taken", DateTime.UtcNow, "manual", ToolInfo.Version), content.Length, CancellationToken.None);
            await upload.Content.WriteAsync(content);
            await upload.CommitAsync(Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant(), content.Length, CancellationToken.None);
        });

        Assert.Contains("already exists", error.Message, StringComparison.Ordinal);
        Assert.Equal(original, await azure.Server.GetBlobAsync(azure.Container, $"{prefix}/2024/01/02/taken.dump"));
    }

    [Fact]
    public async Task A_database_with_a_hostile_name_backs_up_and_keeps_its_name_in_metadata()
    {
        var database = "Tëst \"quoted\" db; 'x' %41 " + Guid.NewGuid().ToString("N")[..6];
        await postgres.Cluster.CreateDatabaseAsync(database);
        await postgres.Cluster.PsqlAsync(database, "CREATE TABLE \"odd table\" (id int); INSERT INTO \"odd table\" SELECT generate_series(1, 42);");
        var prefix = StoredObjects.UniquePrefix("hostile");
        var repository = azure.Repository(prefix);

        var backup = await new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(database, backup.Database);
        var properties = azure.Server.GetBlobProperties(azure.Container, $"{prefix}/{backup.ArtifactKey}")!;
        Assert.Equal(database, BackupObjectMetadata.Decode(properties["x-ms-meta-database"]));
        var listed = Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery { DatabasePatterns = ["Tëst*"] }, CancellationToken.None));
        Assert.Equal(backup.Id, listed.Id);
        var byLocation = await new BackupCatalog(RepositoryFactory.Open(BackupAddress.Split(backup.ManifestLocation).RepositoryLocation, azureOptions: new AzureRepositoryOptions { Environment = azure.KeyEnvironment }))
            .ReadAsync(BackupAddress.Split(backup.ManifestLocation).ManifestKey, CancellationToken.None);
        Assert.Equal(backup.Id, byLocation.Id);
        await StoreTestDatabases.AssertDownloadRestoresSameRowsAsync(postgres.Cluster, repository, backup);
    }

    /// <summary>Starts a backup of <paramref name="database"/> in 1 MiB blocks whose uploads the proxy holds; returns once the first block is held.</summary>
    private async Task<HeldBackup> StartBackupWithBlocksHeldAsync(string name, string database, CancellationToken cancellationToken)
    {
        var prefix = StoredObjects.UniquePrefix(name);
        var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var hold = proxy.Hold(AzureOperation.PutBlock);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { BlockSizeBytes = MiB, MaxBlocksInFlight = 2 });
        var running = new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), cancellationToken);
        await hold.WaitForHeldAsync(1, Patience);
        Assert.False(running.IsCompleted);
        return new HeldBackup(prefix, proxy, hold, repository, running);
    }

    private sealed record HeldBackup(string Prefix, AzureFaultProxy Proxy, RequestHold<AzureOperation> Hold, AzureRepository Repository, Task<BackupInfo> Running) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Hold.Release();
            await Proxy.DisposeAsync();
        }
    }
}
