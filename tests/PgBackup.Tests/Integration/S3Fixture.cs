using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PgBackup.Storage;
using PgBackup.Storage.S3;

namespace PgBackup.Tests.Integration;

/// <summary>
/// One s3rver per test class (started by the tests; fails, never skips, without node/s3rver),
/// plus helpers every S3 test needs: repositories through a recording proxy, and downloads
/// that are hashed — an S3 round trip is trusted only byte for byte.
/// </summary>
public sealed class S3Fixture : IAsyncLifetime, IStoreUnderTest
{
    public static readonly AWSCredentials Credentials = new BasicAWSCredentials(S3rverServer.AccessKey, S3rverServer.SecretKey);

    private S3rverServer? _server;

    public S3rverServer Server => _server ?? throw new InvalidOperationException("s3rver is not started.");

    public string Bucket => Server.Bucket;

    /// <summary>An S3 repository at s3://bucket/prefix reached through <paramref name="endpoint"/> (a proxy, or s3rver itself).</summary>
    internal S3Repository Repository(string prefix, string? endpoint = null, S3RepositoryOptions? options = null, string? bucket = null)
    {
        options = (options ?? new S3RepositoryOptions()) with { Endpoint = endpoint ?? Server.Endpoint, Credentials = options?.Credentials ?? Credentials };
        return (S3Repository)RepositoryFactory.Open($"s3://{bucket ?? Bucket}/{prefix}", options);
    }

    /// <summary>A plain client straight to s3rver (no proxy) for checks independent of the repository code.</summary>
    public IAmazonS3 DirectClient() => S3ClientFactory.Create(new S3RepositoryOptions { Endpoint = Server.Endpoint, Credentials = Credentials }, "test");

    /// <summary>SHA-256 of the file s3rver keeps for an object: what is really stored, not what any client says.</summary>
    public string StoredFileSha256(string objectKey) => Server.StoredObjectSha256(objectKey);

    /// <summary>Every object key in the bucket under <paramref name="prefix"/>, read straight from s3rver.</summary>
    public async Task<List<string>> ListKeysAsync(string prefix)
    {
        using var client = DirectClient();
        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix + "/" };
        do
        {
            var page = await client.ListObjectsV2Async(request);
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            request.ContinuationToken = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (request.ContinuationToken is not null);
        return keys;
    }

    IBackupRepository IStoreUnderTest.Repository(string prefix) => Repository(prefix);

    public string RepositoryLocation(string prefix) => prefix.Length == 0 ? $"s3://{Bucket}" : $"s3://{Bucket}/{prefix}";

    public string StoredSha256(string objectKey) => StoredFileSha256(objectKey);

    public async Task ReplaceAsync(string objectKey, byte[] content)
    {
        using var client = DirectClient();
        // No aws-chunked body: s3rver would store the chunk signatures (DESIGN §3).
        await client.PutObjectAsync(new PutObjectRequest { BucketName = Bucket, Key = objectKey, InputStream = new MemoryStream(content), UseChunkEncoding = false });
    }

    ProxiedRepository IStoreUnderTest.ThroughProxy(string prefix, int? listPageSize)
    {
        var proxy = S3FaultProxy.Start(Server.Endpoint);
        return new ProxiedRepository(
            Repository(prefix, proxy.Endpoint),
            proxy,
            (fault, times) => proxy.InjectFault(S3Operation.GetObject, fault, times),
            () => proxy.RequestsOf(S3Operation.GetObject).Select(r => (r.Key, r.Outcome)).ToList(),
            () => proxy.RequestsOf(S3Operation.ListObjects).Count(r => r.Query.Contains("list-type=2", StringComparison.Ordinal)));
    }

    public async Task InitializeAsync() => _server = await S3rverServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
