using Amazon.Runtime;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage.S3;

namespace PgBackup.Tests.Integration;

/// <summary>Listing and failure behaviour of S3 repositories against a real S3 API (s3rver).</summary>
[Collection(PostgresCollection.Name)]
public sealed class S3RepositoryTests(PostgresFixture postgres, S3Fixture s3) : IClassFixture<S3Fixture>
{
    [Fact]
    public async Task A_missing_bucket_is_RepositoryNotFound_for_listing_and_for_backups()
    {
        using var repository = s3.Repository("any", bucket: "no-such-bucket");
        var listing = await Assert.ThrowsAsync<RepositoryNotFoundException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal("RepositoryNotFound", listing.ErrorId);
        Assert.Contains("no-such-bucket", listing.Message, StringComparison.Ordinal);

        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var backup = await Assert.ThrowsAsync<RepositoryNotFoundException>(() => new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None));
        Assert.Equal("RepositoryNotFound", backup.ErrorId);
        Assert.DoesNotContain(Directory.GetDirectories(s3.Server.DataDirectory), d => Path.GetFileName(d) == "no-such-bucket");
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_RepositoryUnreachable()
    {
        var closedPort = TestEnvironment.GetFreeTcpPort();
        using var repository = s3.Repository("any", $"http://127.0.0.1:{closedPort}");
        var error = await Assert.ThrowsAsync<RepositoryUnreachableException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal("RepositoryUnreachable", error.ErrorId);
        Assert.Equal(FailureCategory.ConnectionError, error.Category);
        Assert.Contains(closedPort.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_access_key_is_RepositoryAccessDenied_and_no_secret_is_in_the_message()
    {
        const string secret = "wrong-secret-value-42";
        var prefix = StoredObjects.UniquePrefix("denied");
        using var repository = s3.Repository(prefix, options: new S3RepositoryOptions { Credentials = new BasicAWSCredentials("NOT-A-KEY", secret) });
        var listing = await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal("RepositoryAccessDenied", listing.ErrorId);
        Assert.Equal(FailureCategory.PermissionDenied, listing.Category);
        Assert.DoesNotContain(secret, listing.ToString(), StringComparison.Ordinal);

        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None));
        Assert.Empty(await s3.ListKeysAsync(prefix));
    }

    [Fact]
    public async Task Exists_read_and_delete_work_on_objects_under_the_prefix_only()
    {
        var prefix = StoredObjects.UniquePrefix("objects");
        using var repository = s3.Repository(prefix);
        var content = "{\"hello\":\"s3\"}"u8.ToArray();
        await repository.WriteSmallObjectAsync("2024/05/06/thing.json", content, metadata: null, CancellationToken.None);

        Assert.True(await repository.ExistsAsync("2024/05/06/thing.json", CancellationToken.None));
        Assert.False(await repository.ExistsAsync("2024/05/06/other.json", CancellationToken.None));
        Assert.Equal(content, await repository.ReadSmallObjectAsync("2024/05/06/thing.json", CancellationToken.None));
        Assert.Equal([$"{prefix}/2024/05/06/thing.json"], await s3.ListKeysAsync(prefix));
        var missing = await Assert.ThrowsAsync<RepositoryReadFailedException>(() => repository.ReadSmallObjectAsync("2024/05/06/other.json", CancellationToken.None));
        Assert.Equal($"s3://{s3.Bucket}/{prefix}/2024/05/06/other.json", missing.TargetObject);
        Assert.Throws<InvalidManifestException>(() => repository.GetObjectLocation("../escape.json"));

        await repository.DeleteAsync("2024/05/06/thing.json", CancellationToken.None);
        Assert.Empty(await s3.ListKeysAsync(prefix));
    }

    [Fact]
    public async Task Kms_encryption_and_the_key_id_go_on_the_multipart_upload_and_on_small_objects()
    {
        var prefix = StoredObjects.UniquePrefix("kms");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(prefix, proxy.Endpoint, new S3RepositoryOptions
        {
            ServerSideEncryption = S3ServerSideEncryption.AwsKms,
            KmsKeyId = "alias/pgbackup-tests",
            PartSizeBytes = 5 * 1024 * 1024,
        });
        var content = new byte[(5 * 1024 * 1024) + 12345];
        Random.Shared.NextBytes(content);

        await using (var upload = await repository.BeginArtifactAsync("2024/07/08/kms.dump", new Storage.ArtifactMetadata("kms", DateTime.UtcNow, "manual", ToolInfo.Version), content.Length, CancellationToken.None))
        {
            await upload.Content.WriteAsync(content);
            await upload.CommitAsync("unused", content.Length, CancellationToken.None);
        }

        await repository.WriteSmallObjectAsync("2024/07/08/note.json", "{}"u8.ToArray(), metadata: null, CancellationToken.None);

        var create = Assert.Single(proxy.RequestsOf(S3Operation.CreateMultipartUpload));
        var put = Assert.Single(proxy.RequestsOf(S3Operation.PutObject));
        Assert.All(new[] { create, put }, r =>
        {
            Assert.Equal("aws:kms", r.Headers["x-amz-server-side-encryption"]);
            Assert.Equal("alias/pgbackup-tests", r.Headers["x-amz-server-side-encryption-aws-kms-key-id"]);
        });
        Assert.Equal(2, proxy.RequestsOf(S3Operation.UploadPart).Count);
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)).ToLowerInvariant(), (await StoredObjects.DownloadAsync(repository, "2024/07/08/kms.dump")).Sha256);
    }

    [Fact]
    public async Task Reading_an_object_resumes_where_a_broken_connection_left_off()
    {
        var prefix = StoredObjects.UniquePrefix("resume");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        using var repository = s3.Repository(prefix, proxy.Endpoint);
        var content = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(content);
        await repository.WriteSmallObjectAsync("2024/09/10/big.bin", content, metadata: null, CancellationToken.None);
        proxy.InjectFault(S3Operation.GetObject, ProxyFault.TruncateResponseBody, times: 2);

        var (sha256, size) = await StoredObjects.DownloadAsync(repository, "2024/09/10/big.bin");

        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(content)).ToLowerInvariant(), sha256);
        Assert.Equal(content.Length, size);
        var gets = proxy.RequestsOf(S3Operation.GetObject);
        Assert.Equal(["truncated", "truncated", "forwarded"], gets.Select(g => g.Outcome));
        Assert.False(gets[0].Headers.ContainsKey("range"));
        Assert.StartsWith("bytes=", gets[1].Headers["range"], StringComparison.Ordinal);
        Assert.True(gets[1].Headers.ContainsKey("if-match"), "a resumed read must be pinned to the same object version");
    }
}
